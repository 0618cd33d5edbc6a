package uring

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrUnavailable is matched (errors.Is) by every error that means io_uring
// cannot be used in this process at all: the kernel lacks it, a sysctl
// disables it, or a seccomp filter blocks it. Callers fall back to another
// I/O path on it.
var ErrUnavailable = errors.New("io_uring unavailable")

// ErrClosed is returned by operations on a closed Ring or BufRing.
var ErrClosed = errors.New("uring: ring closed")

// ErrNotOwnerThread is matched by the EEXIST a WithSingleIssuer ring returns
// when it is submitted to, waited on or registered with from an OS thread
// other than the one that created it.
var ErrNotOwnerThread = errors.New("uring: called from a thread other than the ring's owner (WithSingleIssuer needs runtime.LockOSThread)")

// ownerError explains EEXIST from a single-issuer ring; both
// errors.Is(err, ErrNotOwnerThread) and errors.Is(err, unix.EEXIST) hold.
func (r *Ring) ownerError(err error) error {
	if err == unix.EEXIST && r.flags&SetupSingleIssuer != 0 {
		return fmt.Errorf("%w: %w", ErrNotOwnerThread, err)
	}
	return err
}

// UnavailableError says why io_uring cannot be used. It matches
// ErrUnavailable and unwraps to the errno io_uring_setup returned.
type UnavailableError struct {
	// Reason is the plain-words cause, e.g. "kernel.io_uring_disabled=2 (sysctl)".
	Reason string
	// Errno is what io_uring_setup returned.
	Errno syscall.Errno
}

// Error reads "io_uring unavailable: <reason>".
func (e *UnavailableError) Error() string { return "io_uring unavailable: " + e.Reason }

// Is makes errors.Is(err, ErrUnavailable) hold.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the errno so errors.Is(err, unix.EPERM) also holds.
func (e *UnavailableError) Unwrap() error { return e.Errno }

const sysctlDisabled = "/proc/sys/kernel/io_uring_disabled"

func readDisabledSysctl() (string, error) {
	b, err := os.ReadFile(sysctlDisabled)
	return strings.TrimSpace(string(b)), err
}

// setupError turns an io_uring_setup failure into an UnavailableError when
// it means "not here at all", and into a plain wrapped error otherwise.
// readSysctl is injectable so every branch can be tested.
func setupError(err error, readSysctl func() (string, error)) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return fmt.Errorf("uring: io_uring_setup: %w", err)
	}
	switch errno {
	case unix.ENOSYS:
		return &UnavailableError{Errno: errno,
			Reason: "io_uring_setup returned ENOSYS (kernel built without io_uring, or blocked by seccomp)"}
	case unix.EPERM:
		v, rerr := readSysctl()
		switch {
		case rerr == nil && v == "2":
			return &UnavailableError{Errno: errno, Reason: "kernel.io_uring_disabled=2 (sysctl)"}
		case rerr == nil && v == "1":
			return &UnavailableError{Errno: errno,
				Reason: "kernel.io_uring_disabled=1 and this process is not in kernel.io_uring_group (sysctl)"}
		default:
			return &UnavailableError{Errno: errno,
				Reason: "setup returned EPERM (seccomp or sysctl kernel.io_uring_disabled)"}
		}
	case unix.ENOMEM:
		return fmt.Errorf("uring: io_uring_setup: %w (RLIMIT_MEMLOCK too low on kernels before 5.12? raise ulimit -l)", errno)
	default:
		return fmt.Errorf("uring: io_uring_setup: %w", errno)
	}
}

// registerError names the registration that failed and, for ENOMEM, the
// usual cause.
func registerError(what string, err error) error {
	if errors.Is(err, unix.ENOMEM) {
		return fmt.Errorf("uring: %s: %w (locked-memory limit: raise ulimit -l or grant CAP_IPC_LOCK)", what, err)
	}
	return fmt.Errorf("uring: %s: %w", what, err)
}
