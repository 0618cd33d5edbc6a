package tuning

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxAttr bounds a single sysfs/procfs read; kernel attributes are one page,
// but an injected root may hold anything.
const maxAttr = 1 << 20

// tree resolves the kernel paths this package reads and writes under an
// injectable root, so that tests run against fake /proc and /sys trees.
type tree struct {
	root string
}

// path maps an absolute kernel path ("/proc/interrupts") into the tree.
func (t tree) path(kernel string) string {
	if t.root == "" || t.root == "/" {
		return kernel
	}
	return filepath.Join(t.root, kernel)
}

// read returns a file's bytes exactly as the kernel gave them.
func (t tree) read(kernel string) (string, error) {
	f, err := os.Open(t.path(kernel))
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAttr+1))
	if err != nil {
		return "", &os.PathError{Op: "read", Path: t.path(kernel), Err: err}
	}
	if len(b) > maxAttr {
		return "", fmt.Errorf("read %s: larger than %d bytes, not a kernel attribute", t.path(kernel), maxAttr)
	}
	return string(b), nil
}

// readTrim returns a file's contents without the trailing newline.
func (t tree) readTrim(kernel string) (string, error) {
	s, err := t.read(kernel)
	return strings.TrimSpace(s), err
}

func (t tree) exists(kernel string) bool {
	_, err := os.Stat(t.path(kernel))
	return err == nil
}

// write stores value with a single write(2), the way sysfs and procfs need it:
// they parse one buffer per write and ignore a second one.
func (t tree) write(kernel, value string) error {
	p := t.path(kernel)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return &WriteError{Path: p, Value: value, Err: unwrapPath(err)}
	}
	_, err = f.Write([]byte(value))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &WriteError{Path: p, Value: value, Err: unwrapPath(err)}
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// WriteError is a write the kernel (or the filesystem) refused. It names the
// path, the value and the kernel's own error, and adds the likely cause.
type WriteError struct {
	Path  string
	Value string
	Err   error
}

// Error reads like: write "3" to /sys/.../rps_cpus: invalid argument (the kernel rejected the value).
func (e *WriteError) Error() string {
	msg := fmt.Sprintf("write %q to %s: %v", strings.TrimSpace(e.Value), e.Path, e.Err)
	if hint := errnoHint(e.Err, e.Path); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

// Unwrap exposes the errno so callers can test errors.Is(err, syscall.EROFS).
func (e *WriteError) Unwrap() error { return e.Err }

func errnoHint(err error, path string) string {
	switch {
	case errors.Is(err, syscall.EROFS):
		return "read-only file system: /sys or /proc is mounted read-only, as in most containers"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "permission denied: run as root (CAP_NET_ADMIN and CAP_SYS_ADMIN)"
	case errors.Is(err, syscall.EIO) && strings.Contains(path, "/irq/"):
		return "the kernel manages this IRQ's affinity and refuses changes"
	case errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.ERANGE), errors.Is(err, syscall.EOVERFLOW):
		return "the kernel rejected the value"
	case errors.Is(err, syscall.ENOENT):
		return "no such file: the device or IRQ has gone away"
	}
	return ""
}
