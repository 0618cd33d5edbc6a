package main

import (
	"path/filepath"
	"testing"
	"time"
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
