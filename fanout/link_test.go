package fanout

import (
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bpf"
)

// TestLinks: a Source's upstream connection and a stream's pushed links
// are listed in Conns under their own role and target, their sockets'
// cookies are in StreamConns (so their kernel figures are the stream's),
// a kick shuts the kicked link down and no other, and a removed link is
// gone from both.
func TestLinks(t *testing.T) {
	h := newTestHub(Config{})
	upDial, upPeer := loopbackPair(t, 0)
	fwdDial, fwdPeer := loopbackPair(t, 0)
	src, err := h.PublishSource("live/l", &Link{ID: 41, Role: "pull", Protocol: "rtmps", Target: "rtmps://origin:443", Conn: upDial})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s := h.Stream("live/l")
	remove := s.AddLink(Link{ID: 42, Role: "forward", Protocol: "rtmp", Target: "rtmp://target/live/…", Conn: fwdDial,
		Sent: func() uint64 { return 7 }})

	cookie := func(c net.Conn) uint64 {
		k, err := bpf.Cookie(c.(*net.TCPConn))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	upCookie, fwdCookie := cookie(upDial), cookie(fwdDial)
	want := []ConnInfo{
		{ID: 41, Role: "pull", Protocol: "rtmps", Stream: "live/l", Peer: upDial.RemoteAddr().String(), Target: "rtmps://origin:443", Cookie: upCookie, Ingest: true},
		{ID: 42, Role: "forward", Protocol: "rtmp", Stream: "live/l", Peer: fwdDial.RemoteAddr().String(), Target: "rtmp://target/live/…", Cookie: fwdCookie,
			BytesSent: 7},
	}
	got := h.Conns()
	for i := range got {
		got[i].Since = time.Time{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Conns = %+v\nwant %+v", got, want)
	}
	if k := h.StreamConns()["live/l"]; !slices.Contains(k, upCookie) || !slices.Contains(k, fwdCookie) || len(k) != 2 {
		t.Errorf("StreamConns = %v, want the pull's %d and the forward's %d", k, upCookie, fwdCookie)
	}

	if _, ok := h.Kick(0); ok {
		t.Error("Kick(0) found a connection: 0 numbers none")
	}
	if info, ok := h.Kick(42); !ok || info.Role != "forward" {
		t.Fatalf("Kick(42) = %+v, %v; want the forward", info, ok)
	}
	fwdPeer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := fwdPeer.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the kicked forward's peer read %v, want EOF", err)
	}
	upPeer.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := upPeer.Read(make([]byte, 1)); !isTimeout(err) {
		t.Errorf("the pull's peer read %v after the forward's kick, want nothing", err)
	}

	remove()
	if got := h.Conns(); len(got) != 1 || got[0].Role != "pull" {
		t.Errorf("after remove, Conns = %+v, want the pull alone", got)
	}
	if k := h.StreamConns()["live/l"]; !slices.Equal(k, []uint64{upCookie}) {
		t.Errorf("after remove, StreamConns = %v, want the pull's %d", k, upCookie)
	}
}

// isTimeout reports whether err is a deadline's.
func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
