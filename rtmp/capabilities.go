package rtmp

// Optional capabilities of a Handler and of the Publisher it returns, found
// by type assertion in the manner of net/http's Flusher and Hijacker. A
// wrapper around a Handler hides them unless it implements them too.

// PlayChecker is a Handler that decides whether a play can be answered
// before the session answers it. CheckPlay may wait (for a publisher to
// appear, say); an error refuses the play with NetStream.Play.StreamNotFound
// in place of NetStream.Play.Start, and the connection is closed.
type PlayChecker interface {
	CheckPlay(s *Session) error
}

// Unpublisher is a Publisher that tells a clean end of publishing — the
// client's FCUnpublish, deleteStream or closeStream — from a lost
// connection, which ends with Close alone. The session calls Unpublish
// once, in place of Close, when the client stops publishing cleanly.
type Unpublisher interface {
	Unpublish() error
}
