// Package access decides who may publish and play: signed tokens, HTTP
// hooks, IP lists and limits, in one check that every protocol's entry
// calls. It knows nothing of RTMP or HTTP framing: a caller describes the
// request with a Request and gets an Admission or a *Refusal.
package access

import "net/netip"

// Action is what a client asks to do with a stream.
type Action string

// The actions a Request may ask for.
const (
	Publish Action = "publish"
	Play    Action = "play"
)

// The protocols a Request may arrive on; Protocol is free text for the
// hooks and logs, these are the names the server uses.
const (
	ProtoRTMP    = "rtmp"
	ProtoHTTPFLV = "http-flv"
	ProtoWSFLV   = "ws-flv"
	ProtoHLS     = "hls"
	ProtoFMP4    = "fmp4"
)

// Request is one publish or play as every protocol describes it.
type Request struct {
	// Action is Publish or Play.
	Action Action
	// App and Name make the stream's key "app/name" (Name without query).
	App, Name string
	// Query is the raw query string (without '?') the client sent with the
	// stream: where its token is.
	Query string
	// Remote is the client's address, "ip:port" as net.Addr.String() and
	// http.Request.RemoteAddr give it.
	Remote string
	// Protocol is how the client arrived: ProtoRTMP, ProtoHTTPFLV, ….
	Protocol string
	// ID identifies the connection for the hooks and the control API (the
	// RTMP session id); 0 when unknown.
	ID uint64
}

// Stream is the request's stream key, "app/name".
func (r *Request) Stream() string { return r.App + "/" + r.Name }

// addr is the client's IP address, unmapped; the zero Addr when Remote
// does not parse (which no allow list matches).
func (r *Request) addr() netip.Addr {
	if ap, err := netip.ParseAddrPort(r.Remote); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(r.Remote); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}
