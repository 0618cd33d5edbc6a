package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/access"
)

// TestEdgeOfEdge: the issue promises that an edge's -origin may list
// edges. ffmpeg publishes to the origin; edge 2's origin is edge 1, whose
// origin is the origin. A player on edge 2 makes edge 2 pull from edge 1,
// which pulls from the origin: one upstream per tier, media end to end,
// and both pulls end after their linger once the player has gone.
func TestEdgeOfEdge(t *testing.T) {
	clip := testClip(t)
	origin := startServer(t)
	edge1 := startServer(t, "-origin", "rtmp://"+origin.addr, "-edge-linger", "1s")
	edge2 := startServer(t, "-origin", "rtmp://"+edge1.addr, "-edge-linger", "1s")
	pub := ffmpegLoopPublisher(t, clip, origin.url("chain"))
	defer pub.kill()

	out := filepath.Join(t.TempDir(), "edge2.flv")
	if err := ffmpegRecord(edge2.url("chain"), out, 3); err != nil {
		t.Fatal(err)
	}
	r := ffprobe(t, out)
	if len(r.codecs) != 2 || r.videoPackets < 2*clipFPS || r.audioPackets == 0 || !r.firstVideoK {
		t.Errorf("via two edges: %+v, want h264+aac, ≥ %d video packets from a keyframe", r, 2*clipFPS)
	}
	for _, e := range []struct {
		name string
		s    *testServer
	}{{"edge 1", edge1}, {"edge 2", edge2}} {
		if v, _ := series(scrape(t, e.s.http), "bbllive_edge_pulls_started_total"); v != 1 {
			t.Errorf("%s: bbllive_edge_pulls_started_total = %v, want 1", e.name, v)
		}
	}
	for _, e := range []*testServer{edge2, edge1} {
		waitFor(t, 8*time.Second, "each edge's pull stops after the player left and the linger", func() bool {
			v, _ := series(scrape(t, e.http), "bbllive_edge_pulls")
			return v == 0
		})
	}
}

// TestEdgeChecksAccessBeforePulling: on an edge with access control, a
// viewer without a credential is refused on every protocol before the
// edge starts a pull (an open edge would let anyone make it dial its
// origin for any name); an admitted viewer starts one and gets media.
func TestEdgeChecksAccessBeforePulling(t *testing.T) {
	origin := startServer(t)
	edge := startAccessServer(t, append(tlsFlags(t), "-auth-secret", testSecret, "-origin", "rtmp://"+origin.addr, "-edge-linger", "1s")...)
	startMetricsPub(t, origin.url("x"), 300_000)
	pulls := func() float64 {
		v, _ := series(scrape(t, edge.http), "bbllive_edge_pulls_started_total")
		return v
	}
	for _, e := range accessEntries {
		t.Run(e.name, func(t *testing.T) {
			wantRefusal(t, e.play(edge, defaultDialer, "live/x", ""), e.refusedPlay(access.ReasonTokenMissing), access.ReasonTokenMissing)
			if n := pulls(); n != 0 {
				t.Fatalf("a refused %s viewer started %v pulls", e.name, n)
			}
		})
	}
	token := "token=" + tokenFor(t, testSecret, access.Play, "live/x", time.Hour)
	if err := accessEntries[0].play(edge, defaultDialer, "live/x", token); err != nil {
		t.Fatalf("an admitted viewer: %v", err)
	}
	if n := pulls(); n != 1 {
		t.Errorf("an admitted viewer started %v pulls, want 1", n)
	}
}
