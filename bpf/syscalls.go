package bpf

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// syscallSlots must match SLOTS in c/syscalls.c.
const syscallSlots = 1024

// OtherSyscalls is the number under which Counts reports system calls whose
// number is negative or beyond the counter's table.
const OtherSyscalls = -1

// SyscallCounter counts the system calls of one process from the kernel,
// without perf. It is safe for concurrent use.
type SyscallCounter struct {
	mu     sync.RWMutex
	objs   *syscallsObjects
	link   link.Link
	closed bool
}

// CountSyscalls starts counting the system calls of every thread of process
// pid (a thread-group id; 0 means the calling process). Counting starts at
// zero and stops at Close. The error matches ErrUnavailable when the kernel
// or the privileges do not allow it.
func CountSyscalls(pid int) (*SyscallCounter, error) {
	tgid, _, err := Options{PID: pid}.resolve()
	if err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, unavailable("raising RLIMIT_MEMLOCK", err)
	}
	spec, err := loadSyscalls()
	if err != nil {
		return nil, fmt.Errorf("bpf: embedded object: %w", err)
	}
	if err := spec.Variables[syscallsVarTargetTgid].Set(tgid); err != nil {
		return nil, fmt.Errorf("bpf: setting target_tgid: %w", err)
	}
	objs := new(syscallsObjects)
	if err := spec.LoadAndAssign(objs, nil); err != nil {
		return nil, unavailable("loading the syscall counter", err)
	}
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: objs.OnSysEnter})
	if err != nil {
		objs.Close()
		return nil, unavailable("attaching the syscall counter", err)
	}
	return &SyscallCounter{objs: objs, link: l}, nil
}

// Close stops counting and frees the program. It is idempotent.
func (c *SyscallCounter) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return errors.Join(c.link.Close(), c.objs.Close())
}

// ByNumber returns how many times the process entered system call nr, an
// architecture's number as in golang.org/x/sys/unix (unix.SYS_WRITEV,
// unix.SYS_IO_URING_ENTER, …), or OtherSyscalls for the overflow slot.
func (c *SyscallCounter) ByNumber(nr int) (uint64, error) {
	if nr == OtherSyscalls {
		nr = syscallSlots - 1
	} else if nr < 0 || nr >= syscallSlots-1 {
		return 0, fmt.Errorf("bpf: syscall number %d outside [0, %d)", nr, syscallSlots-1)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return 0, errors.New("bpf: syscall counter closed")
	}
	var perCPU []uint64
	if err := c.objs.Counts.Lookup(uint32(nr), &perCPU); err != nil {
		return 0, fmt.Errorf("bpf: reading syscall counter: %w", err)
	}
	return sum(perCPU), nil
}

// Total returns how many system calls the process entered.
func (c *SyscallCounter) Total() (uint64, error) {
	counts, err := c.Counts()
	if err != nil {
		return 0, err
	}
	var total uint64
	for _, n := range counts {
		total += n
	}
	return total, nil
}

// Counts returns the non-zero counts by syscall number, in one read of the
// table. The read itself is a system call of the calling process.
func (c *SyscallCounter) Counts() (map[int]uint64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, errors.New("bpf: syscall counter closed")
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}
	keys := make([]uint32, syscallSlots)
	values := make([]uint64, syscallSlots*ncpu)
	var cursor ebpf.MapBatchCursor
	n, err := c.objs.Counts.BatchLookup(&cursor, keys, values, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil, fmt.Errorf("bpf: reading syscall counters: %w", err)
	}
	out := make(map[int]uint64)
	for i := range n {
		v := sum(values[i*ncpu : (i+1)*ncpu])
		if v == 0 {
			continue
		}
		nr := int(keys[i])
		if nr == syscallSlots-1 {
			nr = OtherSyscalls
		}
		out[nr] = v
	}
	return out, nil
}

func sum(vs []uint64) uint64 {
	var s uint64
	for _, v := range vs {
		s += v
	}
	return s
}
