package main

import (
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/browser"
)

// TestBrowserKeepsPlayingAcrossOriginLoss is the cluster's promise as a
// viewer sees it: ffmpeg publishes to edge 1 of two origins, mpegts.js in
// headless Chromium plays HTTP-FLV from edge 2 (pulled from the stream's
// owner); the owning origin goes away; the page, which never reconnects
// by itself, keeps playing (its video advances, no player error) from the
// other origin, where edge 1's forward and edge 2's pull moved.
func TestBrowserKeepsPlayingAcrossOriginLoss(t *testing.T) {
	script := playerScript(t, "mpegts.js")
	clip := testClip(t)
	c := startFailoverCluster(t)
	edge2 := c.edge2
	loopPublish(t, clip, c.edge1.url("failover"))

	bctx := openPage(t, time.Minute, mpegtsPage(t, script, "http://"+edge2.http+"/live/failover.flv"))
	if _, _, err := browser.WatchPlayback(bctx, 100*time.Millisecond, 20*time.Second); err != nil {
		t.Fatalf("playback did not start: %v", err)
	}
	c.stopOwner(t, "live/failover")
	pb, advanced, err := browser.WatchPlayback(bctx, 6*time.Second, 10*time.Second)
	if err != nil {
		t.Fatalf("after the owning origin left: %v (at %.2fs)", err, pb.CurrentTime)
	}
	if v, _ := series(scrape(t, edge2.http), "bbllive_edge_upstream_changes_total"); v < 1 {
		t.Errorf("edge 2 counts %v upstream changes: the page did not play through a failover", v)
	}
	t.Logf("after the owning origin left, the video advanced %.2fs in 10 s, now at %.2fs", advanced, pb.CurrentTime)
}
