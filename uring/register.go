package uring

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rsrcRegister mirrors struct io_uring_rsrc_register.
type rsrcRegister struct {
	nr    uint32
	flags uint32
	resv2 uint64
	data  uint64
	tags  uint64
}

// rsrcUpdate2 mirrors struct io_uring_rsrc_update2.
type rsrcUpdate2 struct {
	offset uint32
	resv   uint32
	data   uint64
	tags   uint64
	nr     uint32
	resv2  uint32
}

// filesUpdate mirrors struct io_uring_files_update.
type filesUpdate struct {
	offset uint32
	resv   uint32
	fds    uint64
}

func (r *Ring) register(what string, op uint32, arg unsafe.Pointer, nr uint32) (int, error) {
	if r.fd < 0 {
		return 0, ErrClosed
	}
	n, err := sysRegister(r.fd, op, arg, nr)
	if err != nil {
		return n, registerError(what, r.ownerError(err))
	}
	return n, nil
}

// iovecsOf builds the iovec array registration wants. An empty buffer is
// allowed only where it means "empty this slot" (updates).
func iovecsOf(bufs [][]byte, allowEmpty bool) ([]unix.Iovec, error) {
	iovs := make([]unix.Iovec, len(bufs))
	for i, b := range bufs {
		if len(b) == 0 && !allowEmpty {
			return nil, fmt.Errorf("uring: register buffers: buffer %d is empty", i)
		}
		if len(b) > 0 {
			iovs[i].Base = &b[0]
		}
		iovs[i].SetLen(len(b))
	}
	return iovs, nil
}

// RegisterBuffers registers bufs as fixed buffers 0..len(bufs)-1 for
// PrepWriteFixed and PrepSendZCFixed. The kernel pins the pages; the caller
// keeps the slices reachable until UnregisterBuffers or Close. Memory from
// unix.Mmap is the natural choice. Unprivileged processes are bounded by
// RLIMIT_MEMLOCK.
func (r *Ring) RegisterBuffers(bufs [][]byte) error {
	if len(bufs) == 0 {
		return fmt.Errorf("uring: register buffers: none given")
	}
	iovs, err := iovecsOf(bufs, false)
	if err != nil {
		return err
	}
	_, err = r.register("register buffers", regBuffers, unsafe.Pointer(&iovs[0]), uint32(len(iovs)))
	return err
}

// RegisterBuffersSparse creates an empty fixed-buffer table of n slots, to
// be filled with UpdateBuffers as memory (e.g. a stream's slab) appears.
func (r *Ring) RegisterBuffersSparse(n uint32) error {
	reg := rsrcRegister{nr: n, flags: rsrcRegisterSparse}
	_, err := r.register("register sparse buffers", regBuffers2, unsafe.Pointer(&reg), uint32(unsafe.Sizeof(reg)))
	return err
}

// UpdateBuffers replaces fixed buffers off..off+len(bufs)-1; an empty slice
// empties its slot. A slot in use by an in-flight request stays valid for it.
func (r *Ring) UpdateBuffers(off uint32, bufs [][]byte) error {
	if len(bufs) == 0 {
		return nil
	}
	iovs, err := iovecsOf(bufs, true)
	if err != nil {
		return err
	}
	up := rsrcUpdate2{offset: off, data: uint64(uintptr(unsafe.Pointer(&iovs[0]))), nr: uint32(len(iovs))}
	_, err = r.register("update buffers", regBuffersUpdate, unsafe.Pointer(&up), uint32(unsafe.Sizeof(up)))
	return err
}

// UnregisterBuffers drops the whole fixed-buffer table.
func (r *Ring) UnregisterBuffers() error {
	_, err := r.register("unregister buffers", regUnbuffers, nil, 0)
	return err
}

// RegisterFiles registers fds as fixed files 0..len(fds)-1; -1 leaves a slot
// empty. Use the index as SQE.Fd together with SQEFixedFile.
func (r *Ring) RegisterFiles(fds []int32) error {
	if len(fds) == 0 {
		return fmt.Errorf("uring: register files: none given")
	}
	_, err := r.register("register files", regFiles, unsafe.Pointer(&fds[0]), uint32(len(fds)))
	return err
}

// RegisterFilesSparse creates an empty fixed-file table of n slots.
func (r *Ring) RegisterFilesSparse(n uint32) error {
	reg := rsrcRegister{nr: n, flags: rsrcRegisterSparse}
	_, err := r.register("register sparse files", regFiles2, unsafe.Pointer(&reg), uint32(unsafe.Sizeof(reg)))
	return err
}

// UpdateFiles replaces fixed files off..off+len(fds)-1 (-1 empties a slot)
// and returns how many slots were updated.
func (r *Ring) UpdateFiles(off uint32, fds []int32) (int, error) {
	if len(fds) == 0 {
		return 0, nil
	}
	up := filesUpdate{offset: off, fds: uint64(uintptr(unsafe.Pointer(&fds[0])))}
	return r.register("update files", regFilesUpdate, unsafe.Pointer(&up), uint32(len(fds)))
}

// UnregisterFiles drops the fixed-file table.
func (r *Ring) UnregisterFiles() error {
	_, err := r.register("unregister files", regUnfiles, nil, 0)
	return err
}

// RegisterEventfd makes the kernel signal fd whenever it posts a CQE, so a
// goroutine blocked elsewhere (epoll, a read) learns of completions.
func (r *Ring) RegisterEventfd(fd int) error {
	v := int32(fd)
	_, err := r.register("register eventfd", regEventfd, unsafe.Pointer(&v), 1)
	return err
}

// UnregisterEventfd stops the signalling set up by RegisterEventfd.
func (r *Ring) UnregisterEventfd() error {
	_, err := r.register("unregister eventfd", regUneventfd, nil, 0)
	return err
}
