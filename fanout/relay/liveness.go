package relay

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultDeadAfter is how long an origin may stop answering at the TCP
// level before an edge gives its connection up and moves on: about three
// seconds, so that one lost probe is not taken for a dead host.
const DefaultDeadAfter = 3 * time.Second

// detectDeadPeer makes the kernel end conn once its peer has stopped
// answering for about after: keepalive probes start after a second of
// silence and go out every second, and TCP_USER_TIMEOUT ends the
// connection once nothing (probe or data) has been acknowledged for after.
// A host that is merely quiet — an origin whose publisher is away sends
// nothing, and answers no ping a player sends — still acknowledges the
// probes from its kernel, so only a dead or cut-off one is dropped, and a
// read on conn then fails instead of waiting for minutes.
func detectDeadPeer(conn net.Conn, after time.Duration) error {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	// A TCP connection, or one that embeds it (the server's dialer wraps
	// its sockets to take their final figures at close).
	tcp, ok := conn.(interface {
		SetKeepAliveConfig(net.KeepAliveConfig) error
		syscall.Conn
	})
	if !ok {
		return errors.New("not a TCP connection")
	}
	err := tcp.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second,
		Count: max(1, int(after/time.Second))})
	if err != nil {
		return err
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(after.Milliseconds()))
	}); err != nil {
		return err
	}
	return serr
}
