package rtmp

// Optional capabilities of the Publisher a Handler returns, found by type
// assertion in the manner of net/http's Flusher and Hijacker. A wrapper
// hides them unless it implements them too.

// Unpublisher is a Publisher that tells a clean end of publishing — the
// client's FCUnpublish, deleteStream or closeStream — from a lost
// connection, which ends with Close alone. The session calls Unpublish
// once, in place of Close, when the client stops publishing cleanly.
type Unpublisher interface {
	Unpublish() error
}
