package main

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// TestNotFoundAnsweredAfterPlayWait: players of a name nobody publishes —
// ffmpeg, rtmpdump and the project's client — are answered
// NetStream.Play.StreamNotFound after -play-wait and closed, rather than
// left waiting for the whole grace. On io_uring too, where the player's
// connection belongs to a ring when the answer is written (that answer once
// crashed the server).
func TestNotFoundAnsweredAfterPlayWait(t *testing.T) {
	needFFmpeg(t)
	eachTransport(t, testNotFoundAnsweredAfterPlayWait)
}

func testNotFoundAnsweredAfterPlayWait(t *testing.T) {
	srv := startServer(t, "-play-wait", "1s", "-publish-grace", "30s")
	url := srv.url("nobody")
	start := time.Now()
	ff := startProc(t, "ffmpeg player", 20*time.Second, nil, nil, "ffmpeg", "-hide_banner", "-i", url, "-c", "copy", "-f", "null", "-")
	var dump *extProc
	if _, err := exec.LookPath("rtmpdump"); err == nil {
		dump = startProc(t, "rtmpdump", 20*time.Second, nil, nil, "rtmpdump", "--live", "-r", url, "-o", "/dev/null")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rtmp.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Play(); err != nil {
		t.Fatal(err)
	}
	code, err := nextStatus(c)
	if code != rtmp.CodePlayStreamNotFound {
		t.Errorf("client got status %q (%v), want %s", code, err, rtmp.CodePlayStreamNotFound)
	}
	if _, err := c.ReadMessage(); !errors.Is(err, io.EOF) && (err == nil || !isClosedByPeer(err)) {
		t.Errorf("after StreamNotFound the connection gave %v, want it closed", err)
	}
	if d := time.Since(start); d < time.Second || d > 5*time.Second {
		t.Errorf("answered after %v, want about the 1s play wait", d)
	}

	if !ff.waitExit(10 * time.Second) {
		t.Errorf("ffmpeg still waiting 10s after a 1s play wait")
	} else if ff.err == nil || !strings.Contains(ff.out.String(), "stream not found") {
		t.Errorf("ffmpeg ended with %v, want an error naming the missing stream: %s", ff.err, tail(ff))
	}
	if dump != nil && !dump.waitExit(10*time.Second) {
		t.Errorf("rtmpdump still waiting 10s after a 1s play wait")
	} else if dump != nil && !strings.Contains(dump.out.String(), "StreamNotFound") {
		t.Errorf("rtmpdump did not report StreamNotFound: %s", tail(dump))
	}
	if n := srv.logs.Count("reason=stream_not_found"); n < 2 {
		t.Errorf("%d sessions closed with reason=stream_not_found, want one per player", n)
	}
}

// nextStatus returns the code of the next onStatus the client receives.
func nextStatus(c *rtmp.Client) (string, error) {
	for {
		m, err := c.ReadMessage()
		if err != nil {
			return "", err
		}
		if m.Type != rtmp.TypeCommandAMF0 {
			continue
		}
		cmd, err := rtmp.ParseCommand(m.Type, m.Payload)
		if err != nil || cmd.Name != "onStatus" || len(cmd.Args) == 0 {
			continue
		}
		if o, ok := cmd.Args[0].(rtmp.Object); ok {
			return o.String("code"), nil
		}
	}
}

// TestStalePublisherFreesItsName: a publisher whose connection stays open
// but sends no media is closed after -publisher-timeout, and an ffmpeg
// publisher of the same name is accepted.
func TestStalePublisherFreesItsName(t *testing.T) { eachTransport(t, testStalePublisherFreesItsName) }

func testStalePublisherFreesItsName(t *testing.T) {
	clip := testClip(t)
	srv := startServer(t, "-publisher-timeout", "1s")
	url := srv.url("frozen")
	frozen := dialPublisher(t, url)
	frozen.WriteMessage(&rtmp.Message{Type: rtmp.TypeVideo, Payload: []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f}})
	frozen.Flush()
	frozenAt := time.Now()
	// It sends nothing more; the server must close it.
	closed := make(chan error, 1)
	go func() {
		for {
			if _, err := frozen.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("frozen publisher still connected 5s after a 1s publisher timeout")
	}
	if d := time.Since(frozenAt); d < time.Second || d > 3*time.Second {
		t.Errorf("frozen publisher closed after %v, want 1–1.25s", d)
	}
	waitFor(t, 5*time.Second, "a session closed with reason=stale_publisher", func() bool { return srv.logs.Count("reason=stale_publisher") == 1 })
	pub := ffmpegLoopPublisher(t, clip, url)
	waitFor(t, 10*time.Second, "the new publisher accepted", func() bool { return srv.logs.Count("msg=publishing") >= 2 })
	if srv.logs.Count("publish refused") != 0 || pub.exited() {
		t.Errorf("the new publisher was refused: %s", tail(pub))
	}
}

// TestPublishTakeover: with -publish-takeover a second publisher of a live
// name replaces the first, whose connection is closed; the players stay.
func TestPublishTakeover(t *testing.T) { eachTransport(t, testPublishTakeover) }

func testPublishTakeover(t *testing.T) {
	srv := startServer(t, "-publish-takeover")
	url := srv.url("flaky")
	spec := synthSpec{video: "avc", audio: true, meta: true, fps: 25, gop: 25, keyBytes: 4000, frameBytes: 800, audioBytes: 200, tag: 'A'}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := startSynthPubCtx(ctx, t, url, spec)
	player := startRecPlayer(t, srv, "flaky", recOpts{})
	time.Sleep(500 * time.Millisecond)
	spec.tag = 'B'
	b := startSynthPubCtx(ctx, t, url, spec) // fails the test if refused
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the replaced publisher is still connected")
	}
	waitFor(t, 5*time.Second, "a session closed with reason=taken_over", func() bool { return srv.logs.Count("reason=taken_over") == 1 })
	waitFor(t, 5*time.Second, "B's media at the player", func() bool {
		for _, e := range player.snapshot() {
			if e.isMedia() && e.tag == 'B' {
				return true
			}
		}
		return false
	})
	cancel()
	b.wait()
}

// dialPublisher connects and publishes to url with the project's client.
func dialPublisher(t *testing.T, url string) *rtmp.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rtmp.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Publish(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFFmpegPlaysThroughPublisherReturnMonotonic: an ffmpeg encoder is
// lost and another comes back within the grace, its clock 20 s on (an
// encoder whose timestamps did not restart with its connection; ffmpeg
// stamps its sequence headers 0 all the same), its first frame video.
// ffmpeg players over RTMP and HTTP-FLV, recording with -c copy across the
// return, never see a track's timestamp repeat or go back.
func TestFFmpegPlaysThroughPublisherReturnMonotonic(t *testing.T) {
	clip := testClip(t)
	srv := startServer(t)
	first := ffmpegLoopPublisher(t, clip, srv.url("back"))
	recs := []*ffmpegRecorder{
		startFFmpegRecorder(t, "rtmp", srv.url("back")),
		startFFmpegRecorder(t, "http-flv", "http://"+srv.http+"/live/back.flv"),
	}
	for _, r := range recs {
		r.waitVideo(t, clipFPS)
	}
	first.kill()
	waitFor(t, 5*time.Second, "the stream loses its publisher", func() bool {
		v, _ := series(scrape(t, srv.http), "bbllive_stream_live", "stream=live/back")
		return v == 0
	})
	before := make([]int, len(recs))
	for i, r := range recs {
		before[i] = r.videoFrames()
	}
	// Its audio 100 ms late, so that its first frame is video.
	startProc(t, "ffmpeg publisher", 60*time.Second, nil, nil, "ffmpeg", "-hide_banner", "-loglevel", "error",
		"-re", "-stream_loop", "-1", "-i", clip, "-re", "-stream_loop", "-1", "-itsoffset", "0.1", "-i", clip,
		"-map", "0:v", "-map", "1:a", "-c", "copy", "-output_ts_offset", "20", "-f", "flv", srv.url("back"))
	for i, r := range recs {
		r.waitVideo(t, before[i]+2*clipFPS)
	}
	for i, r := range recs {
		r.finish(t, before[i]+2*clipFPS)
	}
}
