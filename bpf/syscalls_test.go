package bpf

import (
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSyscallCounter(t *testing.T) {
	requirePrivilege(t)
	c, err := CountSyscalls(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const extra = 1000
	before, err := c.ByNumber(syscall.SYS_GETPID)
	if err != nil {
		t.Fatal(err)
	}
	totalBefore, err := c.Total()
	if err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	for range extra {
		syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
	}
	runtime.UnlockOSThread()
	after, err := c.ByNumber(syscall.SYS_GETPID)
	if err != nil {
		t.Fatal(err)
	}
	totalAfter, err := c.Total()
	if err != nil {
		t.Fatal(err)
	}
	// Nothing else in a Go test process calls getpid in a loop, but the
	// runtime's asynchronous preemption signals a thread with
	// tgkill(getpid(), …), so a few more may appear; the total also
	// includes the runtime's own calls.
	if got := after - before; got < extra || got > extra+20 {
		t.Errorf("getpid count rose by %d, want %d (+ a few from preemption)", got, extra)
	}
	if got := totalAfter - totalBefore; got < extra {
		t.Errorf("total rose by %d, want at least %d", got, extra)
	}
	counts, err := c.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if counts[syscall.SYS_GETPID] != after {
		t.Errorf("Counts()[getpid] = %d, ByNumber = %d", counts[syscall.SYS_GETPID], after)
	}
	if counts[unix.SYS_BPF] == 0 {
		t.Error("the counter's own bpf() reads were not counted")
	}
}

func TestSyscallCounterOtherProcess(t *testing.T) {
	requirePrivilege(t)
	// PID 1 is not this process: our getpid calls must not appear.
	c, err := CountSyscalls(1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before, err := c.ByNumber(syscall.SYS_GETPID)
	if err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	for range 100 {
		syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
	}
	runtime.UnlockOSThread()
	after, err := c.ByNumber(syscall.SYS_GETPID)
	if err != nil {
		t.Fatal(err)
	}
	if after-before >= 100 {
		t.Errorf("counter for pid 1 saw %d getpid calls of this process", after-before)
	}
}

func TestSyscallCounterArguments(t *testing.T) {
	requirePrivilege(t)
	c, err := CountSyscalls(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, nr := range []int{-2, syscallSlots - 1, syscallSlots, 1 << 40} {
		if _, err := c.ByNumber(nr); err == nil {
			t.Errorf("ByNumber(%d) accepted", nr)
		}
	}
	if _, err := c.ByNumber(OtherSyscalls); err != nil {
		t.Errorf("ByNumber(OtherSyscalls): %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Total(); err == nil {
		t.Error("Total answered after Close")
	}
	if _, err := CountSyscalls(-1); err == nil {
		t.Error("CountSyscalls(-1) accepted")
	}
}
