package fanout

import (
	"net"
	"time"

	"github.com/bbllive/bbllive/rtmp"
	"golang.org/x/sys/unix"
)

// ConnInfo describes one connection attached to a stream, for APIs that
// list connections. The byte counts are the server's own: what the sender
// handed to the socket (players) and the media payload it took in
// (publishers); kernel-side figures are joined by Cookie.
type ConnInfo struct {
	// ID is the connection's id: the RTMP session's, or one from the same
	// sequence (HTTP players, HLS sessions); 0 when nobody numbered it.
	ID uint64
	// Role is "publisher" or "player", or the role of a connection the
	// server dialed (a Link's: "pull", "forward").
	Role string
	// Protocol is how it arrived: ProtocolRTMP, ProtocolHTTPFLV,
	// ProtocolWSFLV, ProtocolFMP4, ProtocolWSFMP4 or ProtocolHLS.
	Protocol string
	// Stream is the stream's key, "app/name".
	Stream string
	// Peer is the remote address.
	Peer string
	// Target is where a connection the server dialed goes (Link.Target);
	// "" for a connection a client opened.
	Target string
	// Cookie is the socket's SO_COOKIE, the key of its eBPF figures; 0
	// when the connection is not a socket.
	Cookie uint64
	// BytesSent and BytesReceived are the application's own counters.
	BytesSent, BytesReceived uint64
	// Since is when the connection attached to the stream.
	Since time.Time
	// Ingest marks the connection the stream's media comes in on: its
	// publisher's, or on an edge the pull from its origin (Role "pull").
	Ingest bool
}

// Conns lists every attached publisher and player, streams in key order,
// each stream's publisher first and its links (Stream.AddLink) last, then
// the viewers of the ConnSources (HLS sessions).
func (h *Hub) Conns() []ConnInfo {
	var out []ConnInfo
	for _, s := range h.Streams() {
		out = s.appendConns(out)
	}
	for _, src := range h.sources.all() {
		out = src.AppendConns(out)
	}
	return out
}

// StreamConns returns the socket cookies of every stream's publisher,
// players and links (a pull from an origin is its stream's publisher). Its shape is bpf.StreamConns, so a kernel-side collector can take
// hub.StreamConns as is. Streams without a socket-backed connection are
// left out.
func (h *Hub) StreamConns() map[string][]uint64 {
	out := make(map[string][]uint64)
	for _, s := range h.Streams() {
		s.mu.Lock()
		var cookies []uint64
		if p := s.publisher; p != nil && p.cookie != 0 {
			cookies = append(cookies, p.cookie)
		}
		for p := range s.players {
			if p.cookie != 0 {
				cookies = append(cookies, p.cookie)
			}
		}
		for l := range s.links {
			if l.cookie != 0 {
				cookies = append(cookies, l.cookie)
			}
		}
		s.mu.Unlock()
		if len(cookies) > 0 {
			out[s.key] = cookies
		}
	}
	return out
}

func (s *Stream) appendConns(out []ConnInfo) []ConnInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.publisher; p != nil {
		c := ConnInfo{Role: rtmp.RolePublisher.String(), Protocol: ProtocolRTMP, Stream: s.key, Cookie: p.cookie, Since: p.since,
			BytesReceived: s.stats.BytesIn.Load() - p.baseIn, Ingest: true}
		if p.sess != nil {
			c.ID, c.Peer = p.sess.ID, p.sess.Conn().RemoteAddr().String()
		}
		if l := p.link; l != nil {
			c.ID, c.Role, c.Protocol, c.Target, c.Peer = l.ID, l.Role, l.Protocol, l.Target, l.peer()
		}
		out = append(out, c)
	}
	for p := range s.players {
		c := ConnInfo{ID: p.id, Role: rtmp.RolePlayer.String(), Protocol: p.protocol, Stream: s.key, Cookie: p.cookie, Since: p.joined,
			BytesSent: p.BytesSent.Load()}
		if p.conn != nil {
			c.Peer = p.conn.RemoteAddr().String()
		}
		out = append(out, c)
	}
	for l := range s.links {
		c := ConnInfo{ID: l.ID, Role: l.Role, Protocol: l.Protocol, Stream: s.key, Peer: l.peer(), Target: l.Target,
			Cookie: l.cookie, Since: l.since}
		if l.Sent != nil {
			c.BytesSent = l.Sent()
		}
		out = append(out, c)
	}
	return out
}

// Codecs names the stream's video and audio codecs from the sequence
// headers its publisher sent ("avc", "hevc", "aac", …); "" when unknown.
func (s *Stream) Codecs() (video, audio string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rtmp.VideoCodec(s.videoSeq), rtmp.AudioCodec(s.audioSeq)
}

// socketCookie returns the SO_COOKIE of the socket under conn (a TLS
// connection's TCP socket included), the number eBPF programs key sockets
// by (the same as bpf.Cookie, which fanout does not import); 0 when there
// is no socket under it. It costs one getsockopt per attach.
func socketCookie(conn net.Conn) uint64 {
	raw := socketUnder(conn)
	if raw == nil {
		return 0
	}
	var cookie uint64
	raw.Control(func(fd uintptr) {
		cookie, _ = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_COOKIE)
	})
	return cookie
}
