package bpf

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Cookie returns the socket cookie of conn (a *net.TCPConn, or anything
// exposing its descriptor through syscall.Conn). The kernel assigns a
// socket's cookie once and never reuses it while the system runs, which is
// why it, not the file descriptor, keys the BPF maps.
func Cookie(conn syscall.Conn) (uint64, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("bpf: cookie: %w", err)
	}
	var cookie uint64
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		cookie, gerr = CookieFD(int(fd))
	}); err != nil {
		return 0, fmt.Errorf("bpf: cookie: %w", err)
	}
	return cookie, gerr
}

// CookieFD returns the socket cookie of a raw socket descriptor, for
// connections handed to io_uring.
func CookieFD(fd int) (uint64, error) {
	cookie, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
	if err != nil {
		return 0, fmt.Errorf("bpf: getsockopt(SO_COOKIE) on fd %d: %w", fd, err)
	}
	return cookie, nil
}
