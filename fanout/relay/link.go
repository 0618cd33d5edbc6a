package relay

import (
	"context"
	"net"
	"strings"

	"github.com/bbllive/bbllive/fanout"
)

// The roles of the connections a relay dials, as the hub lists them
// (fanout.Link): an edge's pull from its origin, and a push of a stream
// to another server (-forward, or an edge's publish forwarded to its
// origin).
const (
	RolePull    = "pull"
	RoleForward = "forward"
)

// NetDial dials the TCP connection under a relay's RTMP connection (under
// TLS for rtmps://), as rtmp.Dialer.NetDial: the server hands its own, so
// that the sockets it dials have their kernel figures taken as the ones it
// accepts do; nil is a plain net.Dialer.
type NetDial func(ctx context.Context, network, addr string) (net.Conn, error)

// link describes conn, dialed to url, for the hub's listings: the URL
// shown redacted, its scheme as the protocol, numbered by nextID when set.
func link(role, url string, conn net.Conn, nextID func() uint64) fanout.Link {
	l := fanout.Link{Role: role, Protocol: fanout.ProtocolRTMP, Target: redact(url), Conn: conn}
	if scheme, _, ok := strings.Cut(url, "://"); ok {
		l.Protocol = scheme
	}
	if nextID != nil {
		l.ID = nextID()
	}
	return l
}
