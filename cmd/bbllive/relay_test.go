package main

import (
	"context"
	"fmt"
	"github.com/bbllive/bbllive/fanout/web"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/mediatest"
	"github.com/bbllive/bbllive/fanout/relay"
)

// ffmpegRecord plays url with ffmpeg for seconds of media into out.
func ffmpegRecord(url, out string, seconds int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-y", "-loglevel", "error", "-rw_timeout", "20000000", "-i", url,
		"-t", fmt.Sprint(seconds), "-c", "copy", "-f", "flv", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg %s: %v: %s", url, err, b)
	}
	return nil
}

// TestEdgesAndForwardWithFFmpeg: ffmpeg publishes to edge 1, which
// forwards the stream to the origin and to a -forward target; ffmpeg
// plays it over HTTP-FLV from edge 2 (pulled from the origin) and over
// RTMP from the target; the metrics count the pull and the forwards.
func TestEdgesAndForwardWithFFmpeg(t *testing.T) {
	clip := testClip(t)
	origin := startServer(t)
	target := startServer(t)
	edge1 := startServer(t, "-origin", "rtmp://"+origin.addr, "-forward", "rtmp://"+target.addr, "-edge-linger", "1s")
	edge2 := startServer(t, "-origin", "rtmp://"+origin.addr, "-edge-linger", "1s")
	pub := ffmpegLoopPublisher(t, clip, edge1.url("cluster"))
	defer pub.kill()

	dir := t.TempDir()
	viaEdge, viaTarget := filepath.Join(dir, "edge.flv"), filepath.Join(dir, "target.flv")
	errc := make(chan error, 2)
	go func() { errc <- ffmpegRecord("http://"+edge2.http+"/live/cluster.flv", viaEdge, 3) }()
	go func() { errc <- ffmpegRecord(target.url("cluster"), viaTarget, 3) }()
	// A stream an edge pulls is live there: its start page lists it.
	waitFor(t, 10*time.Second, "edge 2's start page lists the pulled stream", func() bool {
		var l web.List
		getJSON(t, edge2.http, "/streams.json", &l)
		return len(l.Streams) == 1 && l.Streams[0].Stream == "live/cluster" && l.Streams[0].Players >= 1
	})
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{viaEdge, viaTarget} {
		r := ffprobe(t, f)
		if len(r.codecs) != 2 || r.videoPackets < 2*clipFPS || r.audioPackets == 0 || !r.firstVideoK {
			t.Errorf("%s: %+v, want h264+aac, ≥ %d video packets from a keyframe", filepath.Base(f), r, 2*clipFPS)
		}
	}
	m1 := scrape(t, edge1.http)
	if v, _ := series(m1, "bbllive_forward_connects_total", "target=rtmp://"+target.addr); v != 1 {
		t.Errorf("edge 1: bbllive_forward_connects_total = %v, want 1", v)
	}
	if v, _ := series(m1, "bbllive_forward_bytes_total", "target=rtmp://"+target.addr); v == 0 {
		t.Error("edge 1: no bytes forwarded counted")
	}
	if v, _ := series(m1, "bbllive_edge_forwards"); v != 1 {
		t.Errorf("edge 1: bbllive_edge_forwards = %v, want 1 (the publish goes to its origin)", v)
	}
	if v, _ := series(scrape(t, edge2.http), "bbllive_edge_pulls_started_total"); v != 1 {
		t.Errorf("edge 2: bbllive_edge_pulls_started_total = %v, want 1", v)
	}
	waitFor(t, 5*time.Second, "edge 2's pull stops after its player left and the linger", func() bool {
		v, _ := series(scrape(t, edge2.http), "bbllive_edge_pulls")
		return v == 0
	})
}

// TestForwardRulesFromConfigAndReload: -forward rules from the config file
// send each stream to the targets of its app; a reload replaces the rules
// for streams published after it (not named as needing a restart) while a
// stream already forwarded keeps its target; the metrics count per target.
func TestForwardRulesFromConfigAndReload(t *testing.T) {
	a, b := startServer(t), startServer(t)
	cfg := filepath.Join(t.TempDir(), "bbllive.yaml")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("forward:\n  live: rtmp://" + a.addr + "\n")
	srv := startAccessServer(t, "-config", cfg)
	publish := func(key string) {
		c, err := rtmpPublish("rtmp://" + srv.addr + "/" + key)
		if err != nil {
			t.Fatal(err)
		}
		startMetricsPubOn(t, c)
	}
	publish("live/x")
	publish("other/y")
	waitFor(t, 5*time.Second, "live/x on the live rule's target", func() bool { return streamLive(t, a.http, "live/x") })

	write("forward:\n  live: [\"rtmp://" + b.addr + "/{app}/{name}?key=SECRET\"]\n  other: rtmp://" + b.addr + "\n")
	st, body := apiCall(t, "POST", "http://"+srv.http+"/api/reload", "")
	if st != http.StatusOK || strings.Contains(body, `"forward"`) {
		t.Fatalf("reload: %d %s; want it applied, not named as needing a restart", st, body)
	}
	publish("live/z")
	waitFor(t, 5*time.Second, "live/z on the new rule's target", func() bool { return streamLive(t, b.http, "live/z") })
	if streamLive(t, a.http, "live/z") {
		t.Fatal("live/z went to the replaced rule's target")
	}
	if streamLive(t, b.http, "other/y") || streamLive(t, a.http, "other/y") {
		t.Fatal("other/y, published before the rule for its app, was forwarded")
	}
	if !streamLive(t, a.http, "live/x") {
		t.Fatal("the reload cut live/x's running forward")
	}
	if !strings.Contains(srv.logs.String(), "reload: -forward rules in force") {
		t.Error("the log does not say the reload changed the -forward rules")
	}
	if strings.Contains(srv.logs.String(), "SECRET") {
		t.Error("a target's stream key is in the log")
	}
	m := scrape(t, srv.http)
	for target, want := range map[string]float64{"rtmp://" + a.addr: 1, "rtmp://" + b.addr + "/{app}/{name}?…": 1} {
		if v, _ := series(m, "bbllive_forward_connected", "target="+target); v != want {
			t.Errorf("bbllive_forward_connected{target=%s} = %v, want %v", target, v, want)
		}
	}
}

// TestForwardEndsWithFFmpeg: ffmpeg publishes a clip to a server that
// forwards it; an ffmpeg player of the target records it and ends as soon
// as the publisher's ffmpeg does (its unpublish is forwarded as one),
// not a publish grace later.
func TestForwardEndsWithFFmpeg(t *testing.T) {
	clip := testClip(t)
	target := startServer(t)
	srv := startServer(t, "-forward", "rtmp://"+target.addr)
	out := filepath.Join(t.TempDir(), "target.flv")
	player := startFFmpegPlayer(t, target.url("ends"), out)
	waitFor(t, 10*time.Second, "the target's player waits", func() bool { return target.logs.Count(waitingForPublisher) > 0 })
	if err := ffmpegPublish(t, clip, srv.url("ends"))(); err != nil {
		t.Fatal(err)
	}
	published := time.Now()
	ended := make(chan error, 1)
	go func() { ended <- player.wait() }()
	select {
	case err := <-ended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the target's ffmpeg player still plays 5 s after the publisher ended (the end was not forwarded)")
	}
	t.Logf("the target's ffmpeg player ended %s after the publisher's", time.Since(published).Round(time.Millisecond))
	if r := ffprobe(t, out); r.videoPackets < clipFPS || !r.firstVideoK {
		t.Fatalf("recorded %+v, want ≥ %d video packets from a keyframe", r, clipFPS)
	}
}

// TestOriginTimeoutFlag: an edge whose stream's owning origin accepts and
// never answers gives it up after -origin-timeout and plays the stream
// from the next origin.
func TestOriginTimeoutFlag(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts and says nothing
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	origin := startServer(t)
	addrs := []string{ln.Addr().String(), origin.addr}
	key := ""
	for i := 0; key == ""; i++ {
		if k := fmt.Sprintf("live/t%d", i); relay.Rank(k, addrs)[0] == addrs[0] {
			key = k
		}
	}
	startMetricsPub(t, "rtmp://"+origin.addr+"/"+key, 300_000)
	edge := startServer(t, "-origin", strings.Join(addrs, ","), "-origin-timeout", "200ms")
	start := time.Now()
	if err := rtmpPlayOutcome("rtmp://" + edge.addr + "/" + key); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("media on the edge %s after the play, its owner silent", took.Round(time.Millisecond))
	if took > 800*time.Millisecond {
		t.Fatalf("media after %s: -origin-timeout 200ms was not what bounded the silent owner", took)
	}
}

// TestFFmpegPlaysThroughOriginLossMonotonic: ffmpeg publishes to edge 1
// of two origins; two ffmpeg players on edge 2, over RTMP and HTTP-FLV,
// record the stream; the stream's owning origin goes away and the edge's
// pull moves to the other one. The recordings go on across the failover on
// the same connections, and ffmpeg never sees a track's timestamp repeat or
// go back.
func TestFFmpegPlaysThroughOriginLossMonotonic(t *testing.T) {
	clip := testClip(t)
	c := startFailoverCluster(t)
	edge2 := c.edge2
	ffmpegLoopPublisher(t, clip, c.edge1.url("mono"))
	recs := []*ffmpegRecorder{
		startFFmpegRecorder(t, "rtmp", edge2.url("mono")),
		startFFmpegRecorder(t, "http-flv", "http://"+edge2.http+"/live/mono.flv"),
	}
	for _, r := range recs {
		r.waitVideo(t, clipFPS)
	}
	before := make([]int, len(recs))
	for i, r := range recs {
		before[i] = r.videoFrames()
	}
	c.stopOwner(t, "live/mono")
	waitFor(t, 10*time.Second, "edge 2's pull moves to the other origin", func() bool {
		v, _ := series(scrape(t, edge2.http), "bbllive_edge_upstream_changes_total")
		return v >= 1
	})
	for i, r := range recs {
		r.waitVideo(t, before[i]+3*clipFPS)
	}
	for i, r := range recs {
		r.finish(t, before[i]+3*clipFPS)
	}
}

// TestEdgeHLSPullLastsIdlePlusLinger: HLS viewers of an edge hold its pull
// through the stream's remuxer, so the pull stops -hls-idle (the remuxer
// idle after the last HLS request; checked once a second) plus
// -edge-linger after the last request, not -edge-linger after it.
func TestEdgeHLSPullLastsIdlePlusLinger(t *testing.T) {
	const idle, linger = 2 * time.Second, 3 * time.Second
	origin := startServer(t)
	mediatest.Publish(context.Background(), t, mediatest.Path(t, hlsClip), origin.url("hlsedge"))
	edge := startServer(t, "-origin", "rtmp://"+origin.addr, "-hls-segment-target", "1s",
		"-hls-idle", idle.String(), "-edge-linger", linger.String())
	playlist := "http://" + edge.http + "/live/hlsedge/index.m3u8"
	waitFor(t, 15*time.Second, "the edge's HLS playlist", func() bool {
		_, err := fetchPlaylist(playlist)
		return err == nil
	})
	if _, err := fetchPlaylist(playlist); err != nil { // the last HLS request
		t.Fatal(err)
	}
	last := time.Now()
	pulls := func() float64 { v, _ := series(scrape(t, edge.http), "bbllive_edge_pulls"); return v }
	if n := pulls(); n != 1 {
		t.Fatalf("bbllive_edge_pulls = %v while HLS is watched, want 1", n)
	}
	waitFor(t, idle+linger+5*time.Second, "the edge's pull stops", func() bool { return pulls() == 0 })
	took := time.Since(last)
	t.Logf("the edge's pull stopped %s after the last HLS request (-hls-idle %s, -edge-linger %s)", took.Round(time.Millisecond), idle, linger)
	if took < idle+linger-100*time.Millisecond || took > idle+linger+2*time.Second {
		t.Errorf("pull stopped %s after the last HLS request, want -hls-idle + -edge-linger = %s (+ up to 1 s: the remuxer's idle check)", took, idle+linger)
	}
	logs := edge.logs.String()
	stopped, ended := strings.Index(logs, "hls remuxer stopped"), strings.Index(logs, "edge: pull stopped, no viewers")
	if stopped < 0 || !strings.Contains(logs[stopped:], "why=idle") || ended < stopped {
		t.Errorf("want the remuxer stopped (why=idle), then the pull stopped, in the edge's log:\n%s", logs)
	}
}
