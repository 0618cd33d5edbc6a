package uring

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// params mirrors struct io_uring_params.
type params struct {
	sqEntries    uint32
	cqEntries    uint32
	flags        uint32
	sqThreadCPU  uint32
	sqThreadIdle uint32
	features     uint32
	wqFd         uint32
	resv         [3]uint32
	sqOff        sqRingOffsets
	cqOff        cqRingOffsets
}

// sqRingOffsets mirrors struct io_sqring_offsets.
type sqRingOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

// cqRingOffsets mirrors struct io_cqring_offsets.
type cqRingOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// geteventsArg mirrors struct io_uring_getevents_arg (IORING_ENTER_EXT_ARG).
type geteventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	minWait   uint32
	ts        uint64
}

// Timespec mirrors struct __kernel_timespec, which is 64-bit on every
// architecture (unix.Timespec is not).
type Timespec struct {
	Sec  int64
	Nsec int64
}

func sysSetup(entries uint32, p *params) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// sysEnter uses Syscall6 when it may wait for completions, so the runtime
// can hand the P to another thread. A call that does not wait (minComplete
// 0, no SQPOLL wait) returns once the kernel has issued the submissions and
// run deferred completions; it uses RawSyscall6, because under Syscall6 the
// runtime's monitor takes the P back from a call that runs more than 20 µs
// — which issuing hundreds of socket writes does — and then stops backing
// off its own polling, costing more system calls than the ring saves.
func sysEnter(fd int, toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSize uintptr, brief bool) (int, error) {
	call := unix.Syscall6
	if brief || minComplete == 0 && flags&enterSQWait == 0 {
		call = unix.RawSyscall6
	}
	n, _, errno := call(unix.SYS_IO_URING_ENTER, uintptr(fd), uintptr(toSubmit),
		uintptr(minComplete), uintptr(flags), uintptr(arg), argSize)
	if errno != 0 {
		return int(n), errno
	}
	return int(n), nil
}

// sysRegister retries EINTR: some registrations wait for the ring to go
// quiet and a Go preemption signal must not turn that into a failure.
func sysRegister(fd int, op uint32, arg unsafe.Pointer, nr uint32) (int, error) {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(fd), uintptr(op), uintptr(arg), uintptr(nr), 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		default:
			return -1, errno
		}
	}
}

// escapeSink never stores anything (on is always false) but the compiler
// cannot prove it, so a pointer passed to escape is moved to the heap, where
// the Go runtime never relocates it. Stack memory would move when the
// goroutine's stack grows, behind the kernel's back.
var escapeSink struct {
	on bool
	p  unsafe.Pointer
}

func escape(p unsafe.Pointer) {
	if escapeSink.on {
		escapeSink.p = p
	}
}

// addrOf returns the address of b's first byte as the kernel wants it and
// pins b to the heap.
func addrOf(b []byte) uint64 {
	p := unsafe.Pointer(unsafe.SliceData(b))
	escape(p)
	return uint64(uintptr(p))
}
