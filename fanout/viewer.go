package fanout

// The protocols a Viewer arrives by.
const (
	ProtocolRTMP    = "rtmp"
	ProtocolHTTPFLV = "http-flv"
	ProtocolWSFLV   = "ws-flv"
)

// Viewer describes a player to the hub whatever its protocol: what a check
// that applies to every viewer (access control, limits) needs to decide.
type Viewer struct {
	App, Name string // the stream is "App/Name"
	// Query is what followed '?' in the stream name or URL (tokens and
	// the like), undecoded.
	Query string
	// Remote is the client's address ("ip:port").
	Remote string
	// Protocol is ProtocolRTMP, ProtocolHTTPFLV or ProtocolWSFLV.
	Protocol string
}

// Key is the stream's key, "App/Name".
func (v *Viewer) Key() string { return v.App + "/" + v.Name }

// Input consumes what a non-RTMP player's client sends once it plays (a
// WebSocket client's frames). An error ends the player; io.EOF ends it
// without complaint. Feed runs on whichever goroutine reads the
// connection, the transport's or the caller's.
type Input interface {
	Feed(p *Player, b []byte) error
}
