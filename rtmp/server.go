package rtmp

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Handler decides what happens to the media of a connection once it asks to
// publish or play; the fan-out layer implements it. It follows net/http: the
// Server accepts and speaks the protocol, the Handler decides.
type Handler interface {
	// Publish is called when a session asks to publish s.Key(). An error
	// refuses it: the client gets NetStream.Publish.BadName (or the code of
	// an error with a StatusCode() string method) and is closed.
	Publish(s *Session) (Publisher, error)
	// Play is called when a session asks to play s.Key(), after the play
	// replies have been written. From then on the handler writes to
	// s.Conn(); the session only reads (acknowledgements, closeStream). An
	// error refuses it with NetStream.Play.StreamNotFound (or the code of
	// an error with a StatusCode() string method).
	Play(s *Session) (Player, error)
}

// PlayAdmitter is implemented by a Handler that decides on a play before
// the session answers it, so that a refused player hears its refusal first
// and alone: no NetStream.Play.Reset or Play.Start, nothing a player would
// take for the start of a stream, precedes it, and the connection is closed
// after it.
type PlayAdmitter interface {
	// AdmitPlay is called when a session asks to play s.Key(), before any
	// reply. An error refuses the play as an error of Handler.Play does.
	// Otherwise the play replies are written and Handler.Play follows,
	// which finds the returned hold with Session.PlayHold; if the session
	// ends before Play is called, the hold's Done is called instead.
	AdmitPlay(s *Session) (Hold, error)
}

// Hold is what a PlayAdmitter keeps for an admitted play until its player
// takes it over (an access admission, released with Done).
type Hold interface{ Done() }

// Publisher receives a publishing session's media.
type Publisher interface {
	// WriteMessage takes one audio, video or data message. m.Payload is
	// valid only during the call.
	WriteMessage(m *Message) error
	// Close ends the publication (unpublish or disconnect).
	Close() error
}

// Player is a playing session as the handler sees it.
type Player interface {
	// Close stops delivery (closeStream, deleteStream or disconnect).
	Close() error
}

// ConnOwner is implemented by a Player or Publisher that takes its
// connection whole, reads included (an io_uring transport reads input
// itself). When OwnsConn reports true after Handler.Play or
// Handler.Publish, the session writes its replies, stops reading, and calls
// TakeConn from its goroutine just before that goroutine ends: from then on
// the owner alone uses the connection. It continues the input with
// Session.DetachInput, hands messages back through Session.Input, and ends
// the session with Session.Finish.
type ConnOwner interface {
	OwnsConn() bool
	TakeConn()
}

// Server accepts RTMP connections, runs the handshake and the command
// exchange on a goroutine per connection, and hands media to Handler.
type Server struct {
	// Handler receives publishers and players. Required.
	Handler Handler
	// Logger receives one line per session end and per refused request.
	Logger *slog.Logger
	// Limits bounds what one peer may make the server hold.
	Limits Limits
	// ChunkSize is the server's outbound chunk size, announced to every
	// client at connect. Every player gets the same one, which is what lets
	// the fan-out serialize each message once.
	ChunkSize uint32
	// WindowAckSize is announced to clients and is the default interval at
	// which the server acknowledges what it received.
	WindowAckSize uint32
	// HandshakeTimeout bounds the handshake.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that sends nothing for this long
	// while it is not playing (a stalled publisher, a client that never
	// publishes nor plays).
	IdleTimeout time.Duration
	// OnSessionEnd, when set, is called once per session with the reason
	// token it ended with (for metrics).
	OnSessionEnd func(s *Session, reason string)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*Session]struct{}
	closed    bool
	wg        sync.WaitGroup
	nextID    atomic.Uint64
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("rtmp: server closed")

func (srv *Server) withDefaults() {
	if srv.Logger == nil {
		srv.Logger = slog.Default()
	}
	if srv.Limits == (Limits{}) {
		srv.Limits = DefaultLimits
	}
	if srv.ChunkSize == 0 {
		srv.ChunkSize = DefaultServerChunkSize
	}
	if srv.WindowAckSize == 0 {
		srv.WindowAckSize = 2500000
	}
	if srv.HandshakeTimeout == 0 {
		srv.HandshakeTimeout = 10 * time.Second
	}
	if srv.IdleTimeout == 0 {
		srv.IdleTimeout = 30 * time.Second
	}
}

// Serve accepts connections on l until Close. It always returns a non-nil
// error: ErrServerClosed after Close.
func (srv *Server) Serve(l net.Listener) error {
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		return ErrServerClosed
	}
	srv.withDefaults()
	if srv.listeners == nil {
		srv.listeners = map[net.Listener]struct{}{}
		srv.sessions = map[*Session]struct{}{}
	}
	srv.listeners[l] = struct{}{}
	srv.mu.Unlock()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if srv.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of file descriptors: wait instead of spinning, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				srv.Logger.Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s := srv.newSession(c)
		if s == nil {
			c.Close()
			return ErrServerClosed
		}
		go srv.run(s)
	}
}

func (srv *Server) isClosed() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.closed
}

// NextID takes the next connection id from the sequence the server numbers
// its sessions with, so that connections of other protocols on the same
// server (HTTP players) get ids no session has.
func (srv *Server) NextID() uint64 { return srv.nextID.Add(1) }

func (srv *Server) newSession(c net.Conn) *Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closed {
		return nil
	}
	s := &Session{ID: srv.NextID(), conn: c, srv: srv}
	s.log = srv.Logger.With("session", s.ID, "peer", c.RemoteAddr().String())
	srv.sessions[s] = struct{}{}
	srv.wg.Add(1)
	return s
}

func (srv *Server) run(s *Session) {
	defer srv.wg.Done()
	err := s.serve()
	if errors.Is(err, errHandedOff) {
		if s.Role() == RolePlayer {
			// A player's session writes once more at most (NotFound, from
			// the handler): free the buffer, keep the chunk size.
			s.cw.release()
		}
		s.owner.TakeConn() // the owner will call Finish
		return
	}
	s.Finish(err)
}

// Close stops accepting, closes every session (publishers and players), and
// waits until their goroutines are gone.
func (srv *Server) Close() error {
	srv.mu.Lock()
	srv.closed = true
	for l := range srv.listeners {
		l.Close()
	}
	for s := range srv.sessions {
		s.shutdown.Store(true)
		if !s.handedOff.Load() { // the handler that owns it closes it
			s.conn.Close()
		}
	}
	srv.mu.Unlock()
	srv.wg.Wait()
	return nil
}

// Sessions returns the live sessions, in no particular order, for
// scrape-time metrics; the slice is the caller's.
func (srv *Server) Sessions() []*Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	out := make([]*Session, 0, len(srv.sessions))
	for s := range srv.sessions {
		out = append(out, s)
	}
	return out
}

// SessionCount is the number of live sessions.
func (srv *Server) SessionCount() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.sessions)
}

// ReasonOf turns a session's terminal error into a short token for logs and
// metrics.
func ReasonOf(err error) string {
	var pe *ProtocolError
	var ne net.Error
	switch {
	case err == nil:
		return "closed"
	case errors.As(err, &pe):
		return pe.Reason
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected_eof"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, net.ErrClosed):
		return "closed"
	}
	return "io"
}
