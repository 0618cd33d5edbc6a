package fanout

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Kick disconnects the publisher or player whose connection id is id (the
// id of /api/connections), or ends a ConnSource's viewer, and reports what
// it was; ok is false when no
// attached connection has that id. The connection is shut down, not
// closed: whoever reads it sees the end and releases it as for any other
// disconnect, with the reason "kicked". A Link (a pull, a forward) is shut
// down the same way; its dialer takes it for a lost connection and dials
// again.
func (h *Hub) Kick(id uint64) (info ConnInfo, ok bool) {
	for _, s := range h.Streams() {
		for _, c := range s.appendConns(nil) {
			if c.ID == id {
				info, ok = c, true
				s.kick(id)
				break
			}
		}
		if ok {
			return info, true
		}
	}
	for _, src := range h.sources.all() {
		if info, ok := src.Kick(id); ok {
			return info, true
		}
	}
	return ConnInfo{}, false
}

func (s *Stream) kick(id uint64) {
	s.mu.Lock()
	var victim *Player
	var pub *publisher
	if p := s.publisher; p != nil && p.sess != nil && p.sess.ID == id {
		pub = p
	}
	for p := range s.players {
		if p.id == id {
			victim = p
		}
	}
	var dialed net.Conn // 0 numbers no link
	if p := s.publisher; p != nil && p.link != nil && p.link.ID == id && id != 0 {
		dialed = p.link.Conn
	}
	for l := range s.links {
		if l.ID == id && id != 0 {
			dialed = l.Conn
		}
	}
	s.mu.Unlock()
	shutdownConn(dialed)
	if victim != nil {
		victim.disconnect("kicked")
	}
	if pub != nil {
		pub.kick()
	}
}

// errKicked ends a kicked publisher's connection at its next message.
var errKicked = errors.New("kicked by the control API")

// kick ends the publisher. While its net.Conn is open, shutting the socket
// down ends it at once; io_uring reads a duplicate descriptor that only its
// worker may touch and closes the net.Conn (a no-op shutdown then), so the
// publisher's next message fails too, which ends it on every transport.
func (p *publisher) kick() {
	p.sess.Logger().Info("disconnecting publisher", "reason", "kicked")
	p.sess.CloseReason("kicked")
	p.kicked.Store(true)
	shutdownConn(p.sess.Conn())
}

// shutdownConn shuts conn down for reading and writing. Whoever reads it —
// a session goroutine, an io_uring receive — sees the end and releases the
// connection; shutdown rather than close keeps the descriptor valid for
// operations still in flight.
func shutdownConn(conn net.Conn) {
	if conn == nil {
		return
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		conn.Close()
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_RDWR) })
}
