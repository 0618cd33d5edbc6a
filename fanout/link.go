package fanout

import (
	"net"
	"time"
)

// Link is a connection the server dialed itself for a stream, where every
// other connection is one a client opened: an edge's pull from its origin
// (the stream's publisher, a Source) or a push of the stream to another
// server. It is listed in Conns under its own role and its socket is in
// StreamConns, so its kernel figures count with the stream's as an
// accepted connection's do. Its words (role, protocol, target) are the
// dialer's: fanout does not read them.
type Link struct {
	// ID numbers it from the sequence of connection ids; 0 leaves it
	// unnumbered.
	ID uint64
	// Role says what it is ("pull", "forward").
	Role string
	// Protocol is what it speaks, the scheme of its URL ("rtmp", "rtmps").
	Protocol string
	// Target is where it goes, as a listing may show it: credentials and
	// stream keys cut.
	Target string
	// Conn is the connection; its socket's cookie is read once, as it
	// attaches.
	Conn net.Conn
	// Sent, when set, is the application's count of bytes sent on it. A
	// pull's received bytes are its stream's ingest, counted as a
	// publisher's.
	Sent func() uint64
}

// link is a Link attached to a stream.
type link struct {
	Link
	cookie uint64
	since  time.Time
}

func newLink(l Link) *link {
	return &link{Link: l, cookie: socketCookie(l.Conn), since: time.Now()}
}

// peer is the link's remote address, "" without a connection.
func (l *link) peer() string {
	if l.Conn == nil {
		return ""
	}
	return l.Conn.RemoteAddr().String()
}

// AddLink lists l among the stream's connections (Conns, StreamConns)
// until remove is called: the connection a push of the stream goes out
// on, once it is established.
func (s *Stream) AddLink(l Link) (remove func()) {
	ln := newLink(l)
	s.mu.Lock()
	if s.links == nil {
		s.links = map[*link]struct{}{}
	}
	s.links[ln] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.links, ln)
		s.mu.Unlock()
	}
}
