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
	if _, err := browser.Find(); err != nil {
		t.Skip(err)
	}
	script, err := browser.Script("mpegts.js")
	if err != nil {
		t.Skipf("mpegts.js from npm: %v", err)
	}
	clip := testClip(t)
	o1, stop1, done1 := startServerCtxWith(t, nil)
	o2, stop2, done2 := startServerCtxWith(t, nil)
	stopAtCleanup(t, stop1, done1)
	stopAtCleanup(t, stop2, done2)
	origins := "rtmp://" + o1.addr + ",rtmp://" + o2.addr
	edge1 := startServer(t, "-origin", origins)
	edge2 := startServer(t, "-origin", origins)
	loopPublish(t, clip, edge1.url("failover"))

	bctx := openPage(t, time.Minute, mpegtsPage(t, script, "http://"+edge2.http+"/live/failover.flv"))
	if _, _, err := browser.WatchPlayback(bctx, 100*time.Millisecond, 20*time.Second); err != nil {
		t.Fatalf("playback did not start: %v", err)
	}
	owner, stop := o1, stop1
	if v, _ := series(scrape(t, o2.http), "bbllive_stream_live", "stream=live/failover"); v == 1 {
		owner, stop = o2, stop2
	}
	if v, _ := series(scrape(t, owner.http), "bbllive_stream_live", "stream=live/failover"); v != 1 {
		t.Fatal("neither origin has the stream the edge forwards")
	}
	stop() // the owning origin goes away: its connections close
	pb, advanced, err := browser.WatchPlayback(bctx, 6*time.Second, 10*time.Second)
	if err != nil {
		t.Fatalf("after the owning origin left: %v (at %.2fs)", err, pb.CurrentTime)
	}
	if v, _ := series(scrape(t, edge2.http), "bbllive_edge_upstream_changes_total"); v < 1 {
		t.Errorf("edge 2 counts %v upstream changes: the page did not play through a failover", v)
	}
	t.Logf("after the owning origin left, the video advanced %.2fs in 10 s, now at %.2fs", advanced, pb.CurrentTime)
}
