package uring

import (
	"errors"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestAvailable(t *testing.T) {
	if err := Available(); err != nil {
		if errors.Is(err, ErrUnavailable) {
			t.Skipf("io_uring is unavailable here: %v", err)
		}
		t.Fatalf("Available: %v", err)
	}
}

func TestSetupErrorClassification(t *testing.T) {
	sysctl := func(v string, err error) func() (string, error) {
		return func() (string, error) { return v, err }
	}
	for _, tc := range []struct {
		name        string
		err         error
		sysctl      func() (string, error)
		unavailable bool
		text        string
	}{
		{"enosys", unix.ENOSYS, sysctl("0", nil), true, "io_uring unavailable: io_uring_setup returned ENOSYS"},
		{"sysctl 2", unix.EPERM, sysctl("2", nil), true, "io_uring unavailable: kernel.io_uring_disabled=2 (sysctl)"},
		{"sysctl 1", unix.EPERM, sysctl("1", nil), true, "kernel.io_uring_group"},
		{"seccomp", unix.EPERM, sysctl("0", nil), true, "io_uring unavailable: setup returned EPERM (seccomp or sysctl kernel.io_uring_disabled)"},
		{"no sysctl file", unix.EPERM, sysctl("", unix.ENOENT), true, "setup returned EPERM"},
		{"memlock", unix.ENOMEM, nil, false, "RLIMIT_MEMLOCK"},
		{"fd limit", unix.EMFILE, nil, false, "too many open files"},
		{"not an errno", errors.New("odd"), nil, false, "odd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := setupError(tc.err, tc.sysctl)
			if errors.Is(err, ErrUnavailable) != tc.unavailable {
				t.Errorf("errors.Is(%v, ErrUnavailable) = %v", err, !tc.unavailable)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q lacks %q", err, tc.text)
			}
			if errno, ok := tc.err.(syscall.Errno); ok && !errors.Is(err, errno) {
				t.Errorf("error %q does not unwrap to %v", err, errno)
			}
		})
	}
}

// TestUnavailableUnderSeccomp blocks io_uring_setup with a real seccomp
// filter, the way container runtimes do, on a thread that is thrown away
// afterwards (a locked goroutine that exits takes its thread with it).
func TestUnavailableUnderSeccomp(t *testing.T) {
	for _, errno := range []syscall.Errno{unix.EPERM, unix.ENOSYS} {
		t.Run(errno.Error(), func(t *testing.T) {
			res := make(chan error, 1)
			go func() {
				runtime.LockOSThread() // never unlocked: the filtered thread dies with us
				if err := denySetup(errno); err != nil {
					res <- err
					return
				}
				err := probeAvailable()
				if err == nil {
					err = errors.New("io_uring_setup succeeded under a filter that denies it")
				}
				res <- err
			}()
			err := <-res
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errno) {
				t.Fatalf("under seccomp %v: %v, want ErrUnavailable wrapping it", errno, err)
			}
			if !strings.HasPrefix(err.Error(), "io_uring unavailable: ") {
				t.Fatalf("error text %q", err)
			}
			t.Log(err)
		})
	}
}

// denySetup installs a seccomp filter on the calling thread that fails
// io_uring_setup with errno and allows everything else.
func denySetup(errno syscall.Errno) error {
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_IO_URING_SETUP},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	return unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0)
}

func TestProbe(t *testing.T) {
	r := newRing(t, 2)
	p, err := r.Probe()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []Op{OpNop, OpWritev, OpWriteFixed, OpTimeout, OpAsyncCancel, OpLinkTimeout, OpClose, OpRead, OpSend, OpRecv, OpSendZC} {
		if !p.Supported(op) {
			t.Errorf("opcode %d reported unsupported", op)
		}
	}
	if p.LastOp() < OpSendZC {
		t.Errorf("last opcode %d, want at least %d", p.LastOp(), OpSendZC)
	}
	if p.Supported(255) {
		t.Error("opcode 255 reported supported")
	}
	p2, err := ProbeOps()
	if err != nil || p2.LastOp() != p.LastOp() {
		t.Fatalf("ProbeOps = %v, %v", p2, err)
	}
	t.Logf("kernel knows opcodes up to %d", p.LastOp())
}
