package rtmp

// Optional capabilities of a Handler and of the Publisher it returns, found
// by type assertion in the manner of net/http's Flusher and Hijacker. A
// wrapper around a Handler hides them unless it implements them too.

// PlayChecker is a Handler that decides whether a play can go ahead before
// Handler.Play takes the connection. The session calls CheckPlay after its
// play replies (NetStream.Play.Start, which clients wait for before
// anything else); it may wait, for a publisher to appear, say. An error
// refuses the play with NetStream.Play.StreamNotFound and closes the
// connection.
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
