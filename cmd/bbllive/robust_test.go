package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/logtest"
	"github.com/bbllive/bbllive/rtmp"
)

// TestSlowPlayer pushes a synthetic stream to three healthy players, one
// player that stops reading after play (with a tiny receive buffer), and one
// that reads in bursts but keeps up on average, all of one protocol: RTMP,
// HTTP-FLV and WebSocket-FLV in turn, as the slow-player policy is the
// same for every format. The healthy players must get everything in order,
// the publisher must never wait, the stalled player must be dropped once it
// has been behind for -slow-timeout, and the bursty one must survive, skipped
// forward to keyframes only, and still parse.
//
// The kernel hides a stalled reader until the server's send buffer for it
// is full, and on loopback (64 KiB MSS) that buffer autotunes to the
// tcp_wmem maximum, 4 MiB here: at 2–4 Mbit/s a stall would show only after
// 8–16 s. So the stream's rate is set to fill that maximum in about 2 s
// (~17 Mbit/s here), which keeps the test to about 10 s.
func TestSlowPlayer(t *testing.T) {
	eachTransport(t, func(t *testing.T) {
		for _, proto := range recProtocols {
			t.Run(proto, func(t *testing.T) { testSlowPlayer(t, proto) })
		}
	})
}

func testSlowPlayer(t *testing.T, proto string) {
	srv := startServer(t, "-lag-window", "262144", "-slow-timeout", "3s", "-publish-grace", "5s")
	const name = "slow"
	wmax := tcpWmemMax(t)
	rate := min(max(wmax/2, 256<<10), 4<<20) // bytes per second
	// Two keyframes a second: a pause leaves the bursty player about a
	// second behind once its send buffer is full, and it can only be
	// skipped if a keyframe lies inside that backlog; with one a second
	// that was a coin toss (CI saw runs with no skip at all).
	const fps, gop, audioBytes = 50, 25, 400
	frame := (rate - 43*audioBytes) / (fps + 3*fps/gop) // a keyframe is 4 frames

	var healthy []*recPlayer
	for range 3 {
		healthy = append(healthy, startRecPlayer(t, srv, name, recOpts{proto: proto}))
	}
	stalled := startRecPlayer(t, srv, name, recOpts{proto: proto, rcvBuf: 4096, noRead: true})
	// Pauses shorter than the slow timeout even if the send buffer held
	// nothing; with it (it fills in about 1.5 s), behind for about a second.
	bursty := startRecPlayer(t, srv, name, recOpts{proto: proto, rcvBuf: 64 << 10, pauseEvery: 2 * time.Second, pauseFor: 2600 * time.Millisecond})
	if proto == fanout.ProtocolRTMP {
		// An HTTP player's request waits for the publisher before it
		// attaches; it then starts at the first keyframe as well.
		waitFor(t, 10*time.Second, "5 players attached", func() bool { return srv.logs.Count(waitingForPublisher) >= 5 })
	}

	spec := synthSpec{video: "avc", audio: true, meta: true, fps: fps, gop: gop,
		keyBytes: 4 * frame, frameBytes: frame, audioBytes: audioBytes, tag: 'S', duration: 8 * time.Second}
	pub := startSynthPub(t, srv.url(name), spec)
	published := time.Now()
	if err := pub.wait(); err != nil {
		t.Fatal(err)
	}
	mbps := float64(pub.bytes.Load()) * 8 / pub.elapsed.Seconds() / 1e6
	t.Logf("published %d media messages (%.2f Mbit/s) in %v; slowest write+flush %v",
		pub.sent.Load(), mbps, pub.elapsed.Round(time.Millisecond), time.Duration(pub.maxWrite.Load()))

	// The publisher never waited on anybody: it kept real-time pace and
	// no single write took long.
	if pub.elapsed > spec.duration+time.Second {
		t.Errorf("publishing %v of media took %v: the publisher was held up", spec.duration, pub.elapsed)
	}
	if w := time.Duration(pub.maxWrite.Load()); w > 500*time.Millisecond {
		t.Errorf("a publisher write took %v", w)
	}

	for i, p := range healthy {
		who := fmt.Sprintf("healthy player %d", i)
		waitFor(t, 10*time.Second, who+" sees the end of the stream", p.sawEnd)
		p.checkEnd(t, who)
		sent, sentBytes := pub.sent.Load(), pub.bytes.Load()
		if got := p.media.Load(); float64(got) < 0.95*float64(sent) {
			t.Errorf("%s got %d of %d media messages", who, got, sent)
		}
		if got := p.mediaBytes.Load(); float64(got) < 0.95*float64(sentBytes) {
			t.Errorf("%s got %d of %d media bytes: below 95%% of the bitrate", who, got, sentBytes)
		}
		for _, typ := range []uint8{rtmp.TypeVideo, rtmp.TypeAudio} {
			if first, last, gaps := p.seqGaps(typ, spec.tag); gaps != 0 {
				t.Errorf("%s: %d gaps in type %d sequence %d..%d", who, gaps, typ, first, last)
			}
		}
		p.checkStart(t, who, spec.tag)
	}

	// The stalled player was dropped for being slow, and its socket closed.
	waitFor(t, 10*time.Second, "stalled player disconnected as slow", func() bool {
		return logHas(srv.logs.String(), stalled.peer, `msg="disconnecting player"`, "reason=slow")
	})
	line := findLine(srv.logs.String(), " peer="+stalled.peer+" ", `msg="slow player"`)
	if line == "" {
		t.Fatalf("no slow player line for %s", stalled.peer)
	}
	// It cannot be behind before the publisher starts, and must be dropped
	// once it has been behind for the slow timeout.
	at, err := time.Parse(time.RFC3339Nano, fieldOf(" "+line, "time"))
	if err != nil {
		t.Fatalf("log time: %v", err)
	}
	if d := at.Sub(published); d < 3*time.Second || d > 7500*time.Millisecond {
		t.Errorf("stalled player dropped %v after publishing began, want a little over the 3s slow timeout", d)
	} else {
		t.Logf("stalled player dropped %v after publishing began (slow timeout 3s)", d.Round(time.Millisecond))
	}
	if err := readUntilClosed(stalled.conn, 5*time.Second); err != nil {
		t.Errorf("stalled player's connection: %v", err)
	}

	// The bursty reader fell behind now and then but never for the slow
	// timeout, so it stayed to the end: the end of the grace after the
	// publisher's connection closed.
	waitFor(t, 10*time.Second, "bursty player sees the end of the stream", bursty.sawEnd)
	bursty.checkEnd(t, "bursty player")
	if logHas(srv.logs.String(), bursty.peer, `msg="slow player"`) || logHas(srv.logs.String(), bursty.peer, `msg="disconnecting player"`, "reason=slow") {
		t.Errorf("player that keeps up on average was dropped")
	}
	if got := bursty.media.Load(); got < pub.sent.Load()/2 {
		t.Errorf("bursty player got %d of %d media messages", got, pub.sent.Load())
	}
	// Each time it lagged by more than the lag window it was moved to the
	// newest keyframe: a skip lands on a keyframe, so it stays decodable.
	skips, notKey := bursty.skipsToKeyframes(spec.tag)
	if skips == 0 {
		t.Errorf("bursty player was never skipped forward: the test did not exercise the lag window")
	}
	if notKey != 0 {
		t.Errorf("bursty player: %d of %d skips forward did not land on a keyframe", notKey, skips)
	}
	bursty.checkStart(t, "bursty player", spec.tag)
	t.Logf("bursty player: %d of %d messages, %d skips forward; tcp_wmem max %d", bursty.media.Load(), pub.sent.Load(), skips, wmax)
}

// TestPublisherLossAndReturn: publisher A's connection drops, B takes over
// the name within -publish-grace; the players stay, are told nothing of
// the drop (real players quit on UnpublishNotify), see PublishNotify, B's
// sequence headers and a keyframe first, on one monotonic timeline. Once B
// too is gone for longer than the grace period the players get
// UnpublishNotify and are closed with reason no_publisher.
func TestPublisherLossAndReturn(t *testing.T) { eachTransport(t, testPublisherLossAndReturn) }

func testPublisherLossAndReturn(t *testing.T) {
	srv := startServer(t, "-publish-grace", "2s")
	const name = "relay"
	players := []*recPlayer{startRecPlayer(t, srv, name, recOpts{}), startRecPlayer(t, srv, name, recOpts{})}
	waitFor(t, 10*time.Second, "players attached", func() bool { return srv.logs.Count(waitingForPublisher) >= len(players) })

	specA := synthSpec{video: "avc", audio: true, meta: true, fps: 25, gop: 25, keyBytes: 8000, frameBytes: 1500, audioBytes: 200, tag: 'A', duration: 2 * time.Second}
	a := startSynthPub(t, srv.url(name), specA)
	if err := a.wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	for i, p := range players {
		if n := p.statusCount(rtmp.CodePlayUnpublish); n != 0 {
			t.Fatalf("player %d got %d UnpublishNotify when A's connection dropped, within the grace", i, n)
		}
	}
	// B's clock is unrelated to A's: the server must keep the timeline.
	specB := specA
	specB.tag, specB.startTS = 'B', 500000
	b := startSynthPub(t, srv.url(name), specB)
	if err := b.wait(); err != nil {
		t.Fatal(err)
	}
	left := time.Now()
	for i, p := range players {
		waitFor(t, 5*time.Second, "UnpublishNotify when the grace after B ends", func() bool { return p.statusCount(rtmp.CodePlayUnpublish) == 1 })
		checkHandover(t, fmt.Sprintf("player %d", i), p, a, b)
	}
	for i, p := range players {
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("player %d still connected 10s after the publisher left (grace 2s)", i)
		}
		if p.err == nil || !isClosedByPeer(p.err) {
			t.Errorf("player %d ended with %v, want the server to close it", i, p.err)
		}
		if !logHas(srv.logs.String(), p.peer, `msg="disconnecting player"`, "reason=no_publisher") {
			t.Errorf("player %d: no disconnect line with reason=no_publisher", i)
		}
	}
	if d := time.Since(left); d < 1500*time.Millisecond {
		t.Errorf("players closed %v after the publisher left, before the 2s grace", d)
	}
}

// checkHandover checks one player's view of the switch from A to B.
func checkHandover(t *testing.T, who string, p *recPlayer, a, b *synthPub) {
	t.Helper()
	evs := p.snapshot()
	var unpub, pubNotify, firstB = -1, -1, -1
	var lastA uint32
	for i, e := range evs {
		switch {
		case e.code == rtmp.CodePlayUnpublish && unpub < 0:
			unpub = i
		case e.code == rtmp.CodePlayPublishNotify && pubNotify < 0:
			pubNotify = i
		case e.isMedia() && e.tag == 'A':
			lastA = max(lastA, e.ts)
			if pubNotify >= 0 {
				t.Errorf("%s: A's media after PublishNotify", who)
			}
		case e.isMedia() && e.tag == 'B' && firstB < 0:
			firstB = i
		}
	}
	if pubNotify < 0 || firstB < pubNotify || unpub < firstB {
		t.Fatalf("%s: PublishNotify at %d, B's first message at %d, UnpublishNotify at %d: want that order, and no UnpublishNotify at A's drop", who, pubNotify, firstB, unpub)
	}
	var sawVSeq, sawASeq, sawFrame bool
	for _, e := range evs[firstB:] {
		if !e.isMedia() {
			continue
		}
		if e.tag != 'B' {
			t.Errorf("%s: message of publisher %q after B started", who, e.tag)
			continue
		}
		switch {
		case e.seqHdr && e.typ == rtmp.TypeVideo:
			sawVSeq = true
		case e.seqHdr:
			sawASeq = true
		case e.typ == rtmp.TypeVideo && !sawFrame:
			sawFrame = true
			if !sawVSeq || !sawASeq || !e.key {
				t.Errorf("%s: B's first video frame: video seq before %v, audio seq before %v, keyframe %v", who, sawVSeq, sawASeq, e.key)
			}
			if e.ts < lastA || e.ts > lastA+1000 {
				t.Errorf("%s: B starts at %d ms after A ended at %d ms: want the timeline to continue", who, e.ts, lastA)
			}
		}
	}
	if !sawFrame {
		t.Errorf("%s: no video frame from B", who)
	}
	if !p.monotonic() {
		t.Errorf("%s: timestamps go backwards", who)
	}
	for _, pub := range []*synthPub{a, b} {
		if f, l, gaps := p.seqGaps(rtmp.TypeVideo, pub.spec.tag); gaps != 0 || l-f+1 < int(pub.sentVideo.Load())-pub.spec.gop {
			t.Errorf("%s: publisher %c video %d..%d with %d gaps, %d sent", who, pub.spec.tag, f, l, gaps, pub.sentVideo.Load())
		}
	}
}

// TestSecondPublisherRefusedFFmpeg: ffmpeg publishing to a live name fails
// (non-zero exit) while the first publisher and its player carry on.
func TestSecondPublisherRefusedFFmpeg(t *testing.T) {
	eachTransport(t, testSecondPublisherRefusedFFmpeg)
}

func testSecondPublisherRefusedFFmpeg(t *testing.T) {
	clip := testClip(t)
	srv := startServer(t)
	const name = "taken"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spec := synthSpec{video: "avc", audio: true, fps: 25, gop: 25, keyBytes: 5000, frameBytes: 1000, audioBytes: 200, tag: 'F'}
	pub := startSynthPubCtx(ctx, t, srv.url(name), spec)
	player := startRecPlayer(t, srv, name, recOpts{})
	waitFor(t, 10*time.Second, "player receiving", func() bool { return player.media.Load() > 20 })

	fctx, fcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer fcancel()
	out, err := exec.CommandContext(fctx, "ffmpeg", "-loglevel", "error", "-re", "-i", clip, "-c", "copy", "-f", "flv", srv.url(name)).CombinedOutput()
	if fctx.Err() != nil {
		t.Fatalf("ffmpeg as second publisher did not give up within 20s: %s", out)
	}
	if err == nil {
		t.Fatalf("ffmpeg publishing to a live name exited 0: %s", out)
	}
	t.Logf("ffmpeg refused as it should: %v: %s", err, strings.TrimSpace(string(out)))
	if srv.logs.Count("reason=publish_refused") != 1 {
		t.Errorf("want one session closed with reason=publish_refused")
	}
	before := player.media.Load()
	waitFor(t, 5*time.Second, "first publisher's player still receiving", func() bool { return player.media.Load() > before+25 })
	cancel()
	if err := pub.wait(); err != nil {
		t.Errorf("first publisher: %v", err)
	}
}

// TestEnhancedRTMPPassThrough publishes enhanced-RTMP video (FourCC hvc1,
// av01, vp09) plus AAC through the project's client: players get every
// tag byte for byte, the sequence start first and a keyframe as the first
// frame; a mid-stream joiner gets the sequence start in its join prefix.
func TestEnhancedRTMPPassThrough(t *testing.T) { eachTransport(t, testEnhancedRTMPPassThrough) }

func testEnhancedRTMPPassThrough(t *testing.T) {
	srv := startServer(t, "-publish-grace", "2s")
	for _, codec := range []string{"hvc1", "av01", "vp09"} {
		t.Run(codec, func(t *testing.T) {
			spec := synthSpec{video: codec, audio: true, meta: true, fps: 25, gop: 10, keyBytes: 6000, frameBytes: 1200, audioBytes: 200, tag: 'E', duration: 2500 * time.Millisecond}
			early := []*recPlayer{startRecPlayer(t, srv, codec, recOpts{keep: true}), startRecPlayer(t, srv, codec, recOpts{keep: true})}
			waitFor(t, 10*time.Second, "players attached", func() bool { return countLines(srv.logs.String(), waitingForPublisher, " stream=live/"+codec) >= 2 })
			pub := startSynthPub(t, srv.url(codec), spec)
			time.Sleep(1300 * time.Millisecond)
			late := startRecPlayer(t, srv, codec, recOpts{keep: true})
			if err := pub.wait(); err != nil {
				t.Fatal(err)
			}
			for _, p := range append(early, late) {
				waitFor(t, 5*time.Second, "unpublish", func() bool { return p.statusCount(rtmp.CodePlayUnpublish) > 0 })
			}
			wantCodec := map[string]string{"hvc1": "hevc", "av01": "av1", "vp09": "vp9"}[codec]
			for i, p := range early {
				video := p.payloads(rtmp.TypeVideo)
				if len(video) != int(pub.sentVideo.Load())+1 {
					t.Errorf("early player %d: %d video messages, want %d frames and the sequence start", i, len(video), pub.sentVideo.Load())
				}
				checkVideoPayloads(t, fmt.Sprintf("early player %d", i), video, spec, 0, wantCodec)
			}
			video := late.payloads(rtmp.TypeVideo)
			if len(video) < 2 {
				t.Fatalf("late joiner got %d video messages", len(video))
			}
			first := frameSeq(video[1])
			if first <= 0 || first%spec.gop != 0 {
				t.Errorf("late joiner starts at frame %d: want a later keyframe (GOP %d)", first, spec.gop)
			}
			checkVideoPayloads(t, "late joiner", video, spec, first, wantCodec)
		})
	}
}

// checkVideoPayloads wants the sequence start, then frames from and on,
// each identical to what the publisher sent.
func checkVideoPayloads(t *testing.T, who string, video [][]byte, spec synthSpec, from int, wantCodec string) {
	t.Helper()
	if len(video) == 0 || !bytes.Equal(video[0], spec.videoSeqHeader()) {
		t.Errorf("%s: first video message is not the publisher's sequence start", who)
		return
	}
	if c := rtmp.VideoCodec(video[0]); c != wantCodec {
		t.Errorf("%s: codec %q, want %q", who, c, wantCodec)
	}
	for i, p := range video[1:] {
		want := spec.videoFrame(from + i)
		if !bytes.Equal(p, want) {
			t.Errorf("%s: video frame %d differs from what was published (%x… vs %x…)", who, from+i, p[:min(8, len(p))], want[:8])
			return
		}
		if i == 0 && !rtmp.IsKeyframe(p) {
			t.Errorf("%s: first frame is not a keyframe", who)
		}
	}
}

// TestHEVCFFmpeg publishes HEVC in FLV with ffmpeg where ffmpeg can do it
// (enhanced RTMP needs ffmpeg 6.1 or later).
func TestHEVCFFmpeg(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "hevc.flv")
	out, err := exec.Command("ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-t", "3", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=25:log-level=error",
		"-pix_fmt", "yuv420p", "-f", "flv", file).CombinedOutput()
	if err != nil {
		t.Skipf("this ffmpeg cannot write HEVC into FLV (enhanced RTMP needs ffmpeg >= 6.1; TestEnhancedRTMPPassThrough covers HEVC with the project's client): %v: %s",
			err, strings.TrimSpace(string(out)))
	}
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc := make(chan *playReport, 1)
	go func() { rc <- goPlay(ctx, srv.url("hevc"), 1, false) }()
	waitFor(t, 10*time.Second, "player attached", func() bool { return srv.logs.Count(waitingForPublisher) >= 1 })
	if err := ffmpegPublish(t, file, srv.url("hevc"))(); err != nil {
		t.Fatal(err)
	}
	r := <-rc
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.videoCodec != "hevc" || !r.videoSeqFirst || !r.firstFrameKey || r.videoFrames < 50 {
		t.Errorf("HEVC player: codec %q, sequence first %v, keyframe first %v, %d frames", r.videoCodec, r.videoSeqFirst, r.firstFrameKey, r.videoFrames)
	}
}

// TestSerializeOnce: players that joined before the publisher receive the
// very same (type, timestamp, payload) sequence.
func TestSerializeOnce(t *testing.T) { eachTransport(t, testSerializeOnce) }

func testSerializeOnce(t *testing.T) {
	srv := startServer(t, "-publish-grace", "2s")
	const name, n = "same", 6
	var players []*recPlayer
	for range n {
		players = append(players, startRecPlayer(t, srv, name, recOpts{}))
	}
	waitFor(t, 10*time.Second, "players attached", func() bool { return srv.logs.Count(waitingForPublisher) >= n })
	spec := synthSpec{video: "avc", audio: true, meta: true, fps: 30, gop: 15, keyBytes: 30000, frameBytes: 5000, audioBytes: 300, tag: 'I', duration: 2 * time.Second}
	pub := startSynthPub(t, srv.url(name), spec)
	if err := pub.wait(); err != nil {
		t.Fatal(err)
	}
	var first []byte
	for i, p := range players {
		waitFor(t, 5*time.Second, "unpublish", func() bool { return p.statusCount(rtmp.CodePlayUnpublish) > 0 })
		sum, msgs := p.sum()
		if msgs < int(pub.sent.Load()) {
			t.Errorf("player %d: %d messages, %d media sent", i, msgs, pub.sent.Load())
		}
		if i == 0 {
			first = sum
			t.Logf("%d players, %d messages each, sha256 %x", n, msgs, sum[:8])
		} else if !bytes.Equal(sum, first) {
			t.Errorf("player %d received a different sequence than player 0", i)
		}
	}
}

// TestCleanShutdown cancels a running server with a publisher, players and
// a half-open connection attached: serve returns promptly, every client
// sees its connection closed, and no server goroutine is left behind.
func TestCleanShutdown(t *testing.T) { eachTransport(t, testCleanShutdown) }

func testCleanShutdown(t *testing.T) {
	before := serverGoroutines()
	baseline := runtime.NumGoroutine()
	srv, cancel, done := startServerCtx(t, "-publish-grace", "5s")
	spec := synthSpec{video: "avc", audio: true, fps: 25, gop: 25, keyBytes: 5000, frameBytes: 1000, audioBytes: 200, tag: 'Q'}
	pub := startSynthPubCtx(context.Background(), t, srv.url("bye"), spec)
	var players []*recPlayer
	for _, name := range []string{"bye", "bye", "nobody"} {
		players = append(players, startRecPlayer(t, srv, name, recOpts{}))
	}
	half, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	half.Write([]byte{3}) // C0 and nothing more
	waitFor(t, 10*time.Second, "players receiving", func() bool { return players[0].media.Load() > 10 && players[1].media.Load() > 10 })

	// The scan must see the server's goroutines, or the leak check below
	// would prove nothing.
	during := serverGoroutines()
	if during <= before {
		t.Fatalf("found %d server goroutines while serving, %d before", during, before)
	}
	stopAt := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return within 5s of cancel")
	}
	t.Logf("serve returned %v after cancel", time.Since(stopAt).Round(time.Microsecond))
	for i, p := range players {
		select {
		case <-p.done:
			if p.err == nil || !isClosedByPeer(p.err) {
				t.Errorf("player %d ended with %v, want EOF", i, p.err)
			}
		case <-time.After(3 * time.Second):
			t.Errorf("player %d still open after shutdown", i)
		}
	}
	select {
	case <-pub.done:
		if pub.err == nil || !(isClosedByPeer(pub.err) || errors.Is(pub.err, syscall.EPIPE)) {
			t.Errorf("publisher ended with %v, want its connection closed by the server", pub.err)
		}
	case <-time.After(3 * time.Second):
		t.Errorf("publisher still writing 3s after shutdown")
	}
	if err := readUntilClosed(half, 3*time.Second); err != nil {
		t.Errorf("half-open connection: %v", err)
	}
	if n := srv.logs.Count(`msg="session closed" `); n < 5 {
		t.Errorf("%d sessions logged as closed, want 5", n)
	}
	waitFor(t, 5*time.Second, "server goroutines gone", func() bool { return serverGoroutines() <= before })
	t.Logf("server goroutines: %d before, %d while serving, %d after", before, during, serverGoroutines())
	if n := runtime.NumGoroutine(); n > baseline+2 {
		t.Errorf("%d goroutines after shutdown, %d before", n, baseline)
	}
}

// tcpWmemMax is the largest send buffer the kernel autotunes a TCP socket to.
func tcpWmemMax(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem")
	if err == nil {
		var lo, def, hi int
		if _, err = fmt.Sscan(string(b), &lo, &def, &hi); err == nil {
			return hi
		}
	}
	t.Logf("reading tcp_wmem: %v; assuming 4 MiB", err)
	return 4 << 20
}

// serverGoroutines counts goroutines running fanout, rtmp or serve code.
func serverGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "bbllive/fanout.") || strings.Contains(g, "bbllive/rtmp.") || strings.Contains(g, "main.serve(") {
			n++
		}
	}
	return n
}

// TestAudioOnly: an AAC-only stream plays; a mid-stream joiner gets the
// AAC sequence header first, then frames.
func TestAudioOnly(t *testing.T) { eachTransport(t, testAudioOnly) }

func testAudioOnly(t *testing.T) {
	srv := startServer(t, "-publish-grace", "2s")
	const name = "radio"
	early := startRecPlayer(t, srv, name, recOpts{keep: true})
	waitFor(t, 10*time.Second, "player attached", func() bool { return srv.logs.Count(waitingForPublisher) >= 1 })
	spec := synthSpec{audio: true, meta: true, audioBytes: 300, tag: 'R', duration: 3 * time.Second}
	pub := startSynthPub(t, srv.url(name), spec)
	time.Sleep(1500 * time.Millisecond)
	late := startRecPlayer(t, srv, name, recOpts{keep: true})
	if err := pub.wait(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*recPlayer{early, late} {
		waitFor(t, 5*time.Second, "unpublish", func() bool { return p.statusCount(rtmp.CodePlayUnpublish) > 0 })
	}
	for who, p := range map[string]*recPlayer{"early": early, "late": late} {
		audio := p.payloads(rtmp.TypeAudio)
		if len(audio) < 2 || !bytes.Equal(audio[0], spec.audioSeqHeader()) {
			t.Errorf("%s player: first audio message is not the AAC sequence header", who)
			continue
		}
		if rtmp.IsAudioSequenceHeader(audio[1]) {
			t.Errorf("%s player: two sequence headers", who)
		}
		if _, _, gaps := p.seqGaps(rtmp.TypeAudio, spec.tag); gaps != 0 {
			t.Errorf("%s player: %d gaps in the audio", who, gaps)
		}
		if len(p.payloads(rtmp.TypeVideo)) != 0 {
			t.Errorf("%s player: video in an audio-only stream", who)
		}
	}
	// A player waiting for the stream starts at the newest keyframe of its
	// sender's first pass; in audio-only every frame is one, so an early
	// player misses what arrived before that pass: at most a flush
	// interval (100 ms, about 5 frames). See the report of issue 2.
	first, last, _ := early.seqGaps(rtmp.TypeAudio, spec.tag)
	if first > 8 || last != int(pub.sentAudio.Load())-1 {
		t.Errorf("early player: audio frames %d..%d, %d sent", first, last, pub.sentAudio.Load())
	}
	t.Logf("early player got audio frames %d..%d of 0..%d", first, last, pub.sentAudio.Load()-1)
	if first := frameSeq(late.payloads(rtmp.TypeAudio)[1]); first < 20 {
		t.Errorf("late joiner starts at audio frame %d: want mid-stream", first)
	}
}

// ---- synthetic publisher ----

// synthSpec describes a synthetic publication: tags shaped like real FLV
// audio and video in the bytes the server inspects, ending in a per-type
// frame number and the publisher's tag, so that players can find gaps and
// tell publishers apart, and can compare every byte with what was sent.
type synthSpec struct {
	video      string // "", "avc", or an enhanced-RTMP FourCC: "hvc1", "av01", "vp09"
	audio      bool   // AAC at 44.1 kHz
	meta       bool   // send @setDataFrame onMetaData first
	fps, gop   int
	keyBytes   int
	frameBytes int
	audioBytes int
	tag        byte
	startTS    uint32
	duration   time.Duration // 0: until the context ends
}

const trailerLen = 5 // frame number (4 bytes) and tag

func (sp *synthSpec) videoTS(i int) uint32 { return sp.startTS + uint32(i*1000/sp.fps) }
func (sp *synthSpec) audioTS(i int) uint32 { return sp.startTS + uint32(i*1024*1000/44100) }

func (sp *synthSpec) videoHeader(kind byte) []byte {
	if sp.video == "avc" {
		return []byte{kind | 0x07, 0x01, 0, 0, 0}
	}
	h := append([]byte{0x80 | kind&0xf0 | 0x01}, sp.video...)
	if sp.video == "hvc1" {
		h = append(h, 0, 0, 0) // composition time offset
	}
	return h
}

// videoSeqHeader is the AVC sequence header or the enhanced SequenceStart.
func (sp *synthSpec) videoSeqHeader() []byte {
	var h []byte
	if sp.video == "avc" {
		h = []byte{0x17, 0x00, 0, 0, 0}
	} else {
		h = append([]byte{0x90}, sp.video...)
	}
	return append(h, 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, sp.tag)
}

func (sp *synthSpec) audioSeqHeader() []byte { return []byte{0xaf, 0x00, 0x12, 0x10, sp.tag} }

// videoFrame is frame i: a keyframe every gop frames.
func (sp *synthSpec) videoFrame(i int) []byte {
	kind, size := byte(0x20), sp.frameBytes
	if i%sp.gop == 0 {
		kind, size = 0x10, sp.keyBytes
	}
	return sp.fill(sp.videoHeader(kind), size, i)
}

func (sp *synthSpec) audioFrame(i int) []byte { return sp.fill([]byte{0xaf, 0x01}, sp.audioBytes, i) }

// fill pads hdr to size bytes with a pattern of frame i, then the trailer.
func (sp *synthSpec) fill(hdr []byte, size, i int) []byte {
	p := make([]byte, max(size, len(hdr)+trailerLen))
	copy(p, hdr)
	for k := len(hdr); k < len(p)-trailerLen; k++ {
		p[k] = byte(k + i)
	}
	binary.BigEndian.PutUint32(p[len(p)-trailerLen:], uint32(i))
	p[len(p)-1] = sp.tag
	return p
}

func (sp *synthSpec) metadata() []byte {
	b, _ := rtmp.AppendAMF0(nil, "@setDataFrame", "onMetaData", rtmp.ECMAArray{
		{Key: "width", Value: 320.0}, {Key: "height", Value: 240.0}, {Key: "framerate", Value: float64(sp.fps)},
		{Key: "bbltag", Value: string(sp.tag)}})
	return b
}

// frameSeq reads the frame number from a synthetic frame's trailer.
func frameSeq(p []byte) int {
	if len(p) < trailerLen {
		return -1
	}
	return int(binary.BigEndian.Uint32(p[len(p)-trailerLen:]))
}

// synthPub publishes a synthSpec in real time with the project's client.
type synthPub struct {
	spec                 synthSpec
	c                    *rtmp.Client
	sent                 atomic.Int64 // audio and video frames, not headers
	sentVideo, sentAudio atomic.Int64
	bytes                atomic.Int64
	maxWrite             atomic.Int64 // nanoseconds of the slowest write+flush
	elapsed              time.Duration
	err                  error
	done                 chan struct{}
}

func startSynthPub(t *testing.T, url string, spec synthSpec) *synthPub {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), spec.duration+30*time.Second)
	t.Cleanup(cancel)
	return startSynthPubCtx(ctx, t, url, spec)
}

// startSynthPubCtx connects and publishes, then sends until spec.duration
// passes or ctx ends, and closes the connection (an abrupt leave, as when
// an encoder dies).
func startSynthPubCtx(ctx context.Context, t *testing.T, url string, spec synthSpec) *synthPub {
	t.Helper()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := rtmp.Dial(dctx, url)
	if err != nil {
		t.Fatalf("publisher dial: %v", err)
	}
	if err := c.Publish(); err != nil {
		c.Close()
		t.Fatalf("publish: %v", err)
	}
	p := &synthPub{spec: spec, c: c, done: make(chan struct{})}
	t.Cleanup(func() { c.Close() })
	go func() {
		defer close(p.done)
		defer c.Close()
		p.err = p.run(ctx)
	}()
	return p
}

func (p *synthPub) wait() error {
	<-p.done
	return p.err
}

func (p *synthPub) write(m *rtmp.Message) error {
	start := time.Now()
	err := p.c.WriteMessage(m)
	if err == nil {
		err = p.c.Flush()
	}
	if d := int64(time.Since(start)); d > p.maxWrite.Load() {
		p.maxWrite.Store(d)
	}
	return err
}

func (p *synthPub) run(ctx context.Context) error {
	sp := &p.spec
	start := time.Now()
	defer func() { p.elapsed = time.Since(start) }()
	var head []rtmp.Message
	if sp.meta {
		head = append(head, rtmp.Message{Type: rtmp.TypeDataAMF0, Payload: sp.metadata()})
	}
	if sp.video != "" {
		head = append(head, rtmp.Message{Type: rtmp.TypeVideo, Payload: sp.videoSeqHeader()})
	}
	if sp.audio {
		head = append(head, rtmp.Message{Type: rtmp.TypeAudio, Payload: sp.audioSeqHeader()})
	}
	for i := range head {
		head[i].Timestamp = sp.startTS
		if err := p.write(&head[i]); err != nil {
			return err
		}
	}
	vi, ai := 0, 0
	for {
		elapsed := time.Since(start)
		if sp.duration > 0 && elapsed >= sp.duration {
			return nil
		}
		due := sp.startTS + uint32(elapsed/time.Millisecond)
		for {
			vts, ats := uint32(math.MaxUint32), uint32(math.MaxUint32)
			if sp.video != "" {
				vts = sp.videoTS(vi)
			}
			if sp.audio {
				ats = sp.audioTS(ai)
			}
			m := rtmp.Message{Type: rtmp.TypeVideo, Timestamp: vts}
			if ats < vts {
				m = rtmp.Message{Type: rtmp.TypeAudio, Timestamp: ats}
			}
			if m.Timestamp > due {
				break
			}
			if m.Type == rtmp.TypeVideo {
				m.Payload = sp.videoFrame(vi)
				vi++
				p.sentVideo.Add(1)
			} else {
				m.Payload = sp.audioFrame(ai)
				ai++
				p.sentAudio.Add(1)
			}
			if err := p.write(&m); err != nil {
				return fmt.Errorf("publisher %c at %d ms: %w", sp.tag, m.Timestamp, err)
			}
			p.sent.Add(1)
			p.bytes.Add(int64(len(m.Payload)))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// ---- recording player ----

// recOpts shapes a recording player.
type recOpts struct {
	proto      string        // one of recProtocols; "" is RTMP
	rcvBuf     int           // SO_RCVBUF, set before connecting; 0 keeps the default
	noRead     bool          // stop reading once play has started
	keep       bool          // keep payload copies
	pauseEvery time.Duration // read in bursts: pause pauseFor every pauseEvery
	pauseFor   time.Duration
}

// recEvent is one message a player received.
type recEvent struct {
	typ     uint8
	ts      uint32
	code    string // onStatus code of a command
	seqHdr  bool
	key     bool
	seq     int
	tag     byte
	payload []byte
}

func (e *recEvent) isMedia() bool { return e.typ == rtmp.TypeAudio || e.typ == rtmp.TypeVideo }

// recPlayer plays with the project's client (or reads HTTP-FLV or
// WebSocket-FLV, recplayer_helpers_test.go) and records what arrives.
type recPlayer struct {
	c          *rtmp.Client // nil unless it plays RTMP
	conn       net.Conn
	next       func() (*rtmp.Message, error)
	peer       string // its address, as the server logs it
	opts       recOpts
	media      atomic.Int64 // audio and video frames (not sequence headers)
	mediaBytes atomic.Int64 // their payload bytes

	mu     sync.Mutex
	events []recEvent
	hash   hash.Hash // of every audio, video and data message: type, timestamp, payload
	hashed int

	done chan struct{}
	err  error
}

// dialPlayer connects and plays name, with SO_RCVBUF set before the
// connection is made so the window it announces is small from the start.
func dialPlayer(srv *testServer, name string, rcvBuf int) (*rtmp.Client, error) {
	conn, err := rcvBufDialer(rcvBuf).Dial("tcp", srv.addr)
	if err != nil {
		return nil, err
	}
	c := rtmp.NewClient(conn, "live", name, "rtmp://"+srv.addr+"/live")
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Connect(); err != nil {
		conn.Close()
		return nil, err
	}
	if err := c.Play(); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return c, nil
}

func startRecPlayer(t *testing.T, srv *testServer, name string, o recOpts) *recPlayer {
	t.Helper()
	conn, c, next, err := dialRecPlayer(srv, name, o)
	if err != nil {
		t.Fatalf("%s player of %s: %v", o.proto, name, err)
	}
	t.Cleanup(func() { conn.Close() })
	p := &recPlayer{c: c, conn: conn, next: next, peer: conn.LocalAddr().String(), opts: o, hash: sha256.New(), done: make(chan struct{})}
	if o.noRead {
		return p
	}
	go func() {
		defer close(p.done)
		p.err = p.loop()
	}()
	return p
}

func (p *recPlayer) loop() error {
	next := time.Now().Add(p.opts.pauseEvery)
	for {
		if p.opts.pauseEvery > 0 && time.Now().After(next) {
			time.Sleep(p.opts.pauseFor)
			next = time.Now().Add(p.opts.pauseEvery)
		}
		m, err := p.next()
		if err != nil {
			return err
		}
		p.record(m)
	}
}

func (p *recPlayer) record(m *rtmp.Message) {
	e := recEvent{typ: m.Type, ts: m.Timestamp, seq: -1}
	switch m.Type {
	case rtmp.TypeCommandAMF0:
		if cmd, err := rtmp.ParseCommand(m.Type, m.Payload); err == nil && cmd.Name == "onStatus" && len(cmd.Args) > 0 {
			if o, ok := cmd.Args[0].(rtmp.Object); ok {
				e.code = o.String("code")
			}
		}
	case rtmp.TypeAudio, rtmp.TypeVideo:
		e.seqHdr = rtmp.IsSequenceHeader(m.Type, m.Payload)
		e.key = m.Type == rtmp.TypeVideo && rtmp.IsKeyframe(m.Payload)
		if n := len(m.Payload); n > 0 {
			e.tag = m.Payload[n-1]
		}
		if !e.seqHdr {
			e.seq = frameSeq(m.Payload)
			p.media.Add(1)
			p.mediaBytes.Add(int64(len(m.Payload)))
		}
	}
	if p.opts.keep && e.isMedia() {
		e.payload = append([]byte(nil), m.Payload...)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.isMedia() || m.Type == rtmp.TypeDataAMF0 {
		var h [9]byte
		h[0] = m.Type
		binary.BigEndian.PutUint32(h[1:], m.Timestamp)
		binary.BigEndian.PutUint32(h[5:], uint32(len(m.Payload)))
		p.hash.Write(h[:])
		p.hash.Write(m.Payload)
		p.hashed++
	}
	p.events = append(p.events, e)
}

func (p *recPlayer) snapshot() []recEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]recEvent(nil), p.events...)
}

func (p *recPlayer) sum() ([]byte, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hash.Sum(nil), p.hashed
}

func (p *recPlayer) statusCount(code string) int {
	n := 0
	for _, e := range p.snapshot() {
		if e.code == code {
			n++
		}
	}
	return n
}

// payloads returns the kept payloads of one media type, in order.
func (p *recPlayer) payloads(typ uint8) [][]byte {
	var out [][]byte
	for _, e := range p.snapshot() {
		if e.typ == typ {
			out = append(out, e.payload)
		}
	}
	return out
}

// seqGaps checks that the frames of one type and publisher arrived with
// consecutive frame numbers.
func (p *recPlayer) seqGaps(typ uint8, tag byte) (first, last, gaps int) {
	first, last = -1, -1
	for _, e := range p.snapshot() {
		if e.typ != typ || e.tag != tag || e.seqHdr {
			continue
		}
		if first < 0 {
			first = e.seq
		} else if e.seq != last+1 {
			gaps++
		}
		last = e.seq
	}
	return first, last, gaps
}

// skipsToKeyframes counts the forward jumps in one publisher's video
// frames, and those that did not land on a keyframe: the server skips a
// lagging player to the newest keyframe only, so that it stays decodable.
func (p *recPlayer) skipsToKeyframes(tag byte) (skips, notKey int) {
	last := -1
	for _, e := range p.snapshot() {
		if e.typ != rtmp.TypeVideo || e.tag != tag || e.seqHdr {
			continue
		}
		if last >= 0 && e.seq != last+1 {
			skips++
			if !e.key {
				notKey++
			}
		}
		last = e.seq
	}
	return skips, notKey
}

// sawEnd reports whether the player saw its stream end: RTMP's
// UnpublishNotify, or, as FLV has no such notice, the server closing an
// HTTP player's connection.
func (p *recPlayer) sawEnd() bool {
	if p.c != nil {
		return p.statusCount(rtmp.CodePlayUnpublish) > 0
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// checkEnd wants an HTTP player that saw its end (sawEnd) to have read
// whole tags up to a connection the server closed: anything else means it
// got bytes it could not parse.
func (p *recPlayer) checkEnd(t *testing.T, who string) {
	t.Helper()
	if p.c != nil {
		return
	}
	<-p.done
	if p.err != io.EOF && !isClosedByPeer(p.err) {
		t.Errorf("%s: reading the stream ended with %v", who, p.err)
	}
}

// monotonic reports whether each media type's timestamps never go back.
func (p *recPlayer) monotonic() bool {
	last := map[uint8]uint32{}
	for _, e := range p.snapshot() {
		if !e.isMedia() {
			continue
		}
		if l, ok := last[e.typ]; ok && e.ts < l {
			return false
		}
		last[e.typ] = e.ts
	}
	return true
}

// checkStart wants both sequence headers before the first frame and a
// keyframe as the first video frame.
func (p *recPlayer) checkStart(t *testing.T, who string, tag byte) {
	t.Helper()
	var vseq, aseq bool
	for _, e := range p.snapshot() {
		switch {
		case !e.isMedia() || e.tag != tag:
		case e.seqHdr && e.typ == rtmp.TypeVideo:
			vseq = true
		case e.seqHdr:
			aseq = true
		case e.typ == rtmp.TypeVideo:
			if !vseq || !aseq || !e.key {
				t.Errorf("%s: first video frame %d: video seq before %v, audio seq before %v, keyframe %v", who, e.seq, vseq, aseq, e.key)
			}
			if !p.monotonic() {
				t.Errorf("%s: timestamps go backwards", who)
			}
			return
		}
	}
	t.Errorf("%s: no video frame", who)
}

// ---- server and connection helpers ----

// startServerCtx is startServer with the cancel in the test's hands:
// done receives serve's result.
func startServerCtx(t *testing.T, opts ...string) (*testServer, context.CancelFunc, <-chan error) {
	t.Helper()
	return startServerCtxWith(t, nil, opts...)
}

// startServerCtxWith is startServerCtx with setup applied to the parsed
// configuration (the callbacks that have no flag).
func startServerCtxWith(t *testing.T, setup func(*serveConfig), opts ...string) (*testServer, context.CancelFunc, <-chan error) {
	t.Helper()
	var c serveConfig
	fs := serveFlags(&c)
	if err := fs.Parse(serverArgs(t, opts)); err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(&c)
	}
	var httpAddr string
	c.onHTTP = func(a net.Addr) { httpAddr = a.String() } // before ready: ordered by addrc
	logs := &logtest.Buffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logs, testLogWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, &c, log, func(a net.Addr) { addrc <- a.String() }) }()
	select {
	case addr := <-addrc:
		return &testServer{addr: addr, http: httpAddr, logs: logs}, cancel, done
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	return nil, nil, nil
}

// readUntilClosed discards what c receives until the peer closes it, and
// fails if that does not happen within d.
func readUntilClosed(c net.Conn, d time.Duration) error {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	switch {
	case err == nil, isClosedByPeer(err):
		return nil
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("still open after %v", d)
	}
	return err
}

// countLines counts log lines that contain every one of subs.
func countLines(logs string, subs ...string) int {
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		if hasAll(line, subs) {
			n++
		}
	}
	return n
}

func hasAll(line string, subs []string) bool {
	for _, s := range subs {
		if !strings.Contains(line+" ", s) {
			return false
		}
	}
	return true
}

// findLine returns the first log line that contains every one of subs.
func findLine(logs string, subs ...string) string {
	for _, line := range strings.Split(logs, "\n") {
		if hasAll(line, subs) {
			return line
		}
	}
	return ""
}

// logHas reports whether one log line of the session at peer contains
// every one of subs.
func logHas(logs, peer string, subs ...string) bool {
	return countLines(logs, append([]string{" peer=" + peer + " "}, subs...)...) > 0
}
