package fanout

import "github.com/bbllive/bbllive/fanout/access"

// The protocols a Viewer arrives by: access control's names, so that a
// rule and a viewer mean the same.
const (
	ProtocolRTMP    = access.ProtoRTMP
	ProtocolHTTPFLV = access.ProtoHTTPFLV
	ProtocolWSFLV   = access.ProtoWSFLV
	ProtocolFMP4    = access.ProtoFMP4
	// ProtocolWSFMP4 is fMP4 in WebSocket binary frames.
	ProtocolWSFMP4 = "ws-fmp4"
	// ProtocolHLS is an HLS viewer: a session of requests, not a
	// connection (a ConnSource's).
	ProtocolHLS = access.ProtoHLS
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
	// Protocol is ProtocolRTMP, ProtocolHTTPFLV, ProtocolWSFLV, ProtocolFMP4
	// or ProtocolWSFMP4.
	Protocol string
	// ID is the connection's id (the RTMP session's; HTTP viewers take
	// one from the RTMP server's sequence, rtmp.Server.NextID), by which the control API kicks it.
	ID uint64
}

// Request is v as access control sees it, for Hub.Admit.
func (v *Viewer) Request(action access.Action) access.Request {
	return access.Request{Action: action, App: v.App, Name: v.Name, Query: v.Query,
		Remote: v.Remote, Protocol: v.Protocol, ID: v.ID}
}

// Key is the stream's key, "App/Name".
func (v *Viewer) Key() string { return v.App + "/" + v.Name }

// LogAttrs are what every log line about a player that has no RTMP
// session carries: the attributes an RTMP session's lines carry (session,
// peer, app, stream, in that order; see rtmp.Session.Logger), then its
// protocol, so that one grep finds a player's lines whatever it came by.
func (v *Viewer) LogAttrs() []any {
	return []any{"session", v.ID, "peer", v.Remote, "app", v.App, "stream", v.Key(), "protocol", v.Protocol}
}

// Input consumes what a non-RTMP player's client sends once it plays (a
// WebSocket client's frames). An error ends the player; io.EOF ends it
// without complaint. Feed runs on whichever goroutine reads the
// connection, the transport's or the caller's.
type Input interface {
	Feed(p *Player, b []byte) error
}
