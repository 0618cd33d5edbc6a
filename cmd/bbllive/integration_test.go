package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestFFmpegPublishManyPlayers publishes a real H.264+AAC clip with ffmpeg
// to 50 players waiting for it (10 ffmpeg, 40 of the project's client) and
// two that join mid-stream, then checks what each one got.
func TestFFmpegPublishManyPlayers(t *testing.T) { eachTransport(t, testFFmpegPublishManyPlayers) }

func testFFmpegPublishManyPlayers(t *testing.T) {
	clip := testClip(t)
	srv := startServer(t, "-publish-grace", "5s")
	dir := t.TempDir()
	const ffPlayers, goPlayers = 10, 40
	url := srv.url("many")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ffs []*ffmpegPlayer
	for i := range ffPlayers {
		ffs = append(ffs, startFFmpegPlayer(t, url, filepath.Join(dir, fmt.Sprintf("early%d.flv", i))))
	}
	reports := make([]*playReport, goPlayers)
	var wg sync.WaitGroup
	for i := range goPlayers {
		wg.Add(1)
		go func() { defer wg.Done(); reports[i] = goPlay(ctx, url, 1, false) }()
	}
	waitFor(t, 20*time.Second, "50 players attached", func() bool { return srv.logs.Count(waitingForPublisher) >= ffPlayers+goPlayers })

	published := time.Now()
	pubDone := ffmpegPublish(t, clip, url)

	// Join mid-stream, after the first few GOPs.
	time.Sleep(2500 * time.Millisecond)
	lateFF := startFFmpegPlayer(t, url, filepath.Join(dir, "late.flv"))
	var late *playReport
	wg.Add(1)
	go func() { defer wg.Done(); late = goPlay(ctx, url, 1, false) }()

	if err := pubDone(); err != nil {
		t.Fatal(err)
	}
	t.Logf("published %ds clip in %v", clipSeconds, time.Since(published).Round(time.Millisecond))
	wg.Wait()

	src := ffprobe(t, clip)
	wantFrames := src.videoPackets
	for i, r := range reports {
		if r.err != nil {
			t.Errorf("go player %d: %v", i, r.err)
			continue
		}
		checkEarlyPlayer(t, fmt.Sprintf("go player %d", i), r, wantFrames)
	}
	for i, p := range append(ffs, lateFF) {
		if err := p.wait(); err != nil {
			t.Errorf("ffmpeg player %d: %v", i, err)
			continue
		}
		got := ffprobe(t, p.out)
		if !slices.Contains(got.codecs, "h264") || !slices.Contains(got.codecs, "aac") {
			t.Errorf("%s: codecs %v, want h264 and aac", p.out, got.codecs)
		}
		if !got.firstVideoK {
			t.Errorf("%s: first video packet is not a keyframe", p.out)
		}
		if p == lateFF {
			if got.videoPackets < clipGOP || got.videoPackets > wantFrames-clipGOP {
				t.Errorf("late ffmpeg player got %d video packets, want a mid-stream share of %d", got.videoPackets, wantFrames)
			}
			continue
		}
		if got.videoPackets < wantFrames-clipGOP || got.videoPackets > wantFrames {
			t.Errorf("%s: %d video packets, source has %d (one GOP is %d)", p.out, got.videoPackets, wantFrames, clipGOP)
		}
		if d := got.lastVideoPTS - src.lastVideoPTS; d < -1 || d > 1 {
			t.Errorf("%s: last video pts %.3f, source %.3f", p.out, got.lastVideoPTS, src.lastVideoPTS)
		}
	}
	if late.err != nil {
		t.Fatalf("late go player: %v", late.err)
	}
	if !late.metaBeforeMedia || !late.videoSeqFirst || !late.audioSeqFirst || !late.firstFrameKey {
		t.Errorf("late joiner: metadata first %v, video seq first %v, audio seq first %v, keyframe first %v",
			late.metaBeforeMedia, late.videoSeqFirst, late.audioSeqFirst, late.firstFrameKey)
	}
	if late.firstVideoTS < 1000 {
		t.Errorf("late joiner starts at %d ms: want the stream's running timeline (≥ 1 s in)", late.firstVideoTS)
	}
	t.Logf("time to first frame, mid-stream join: %v (first video at %d ms of the stream timeline)", late.ttff.Round(time.Microsecond), late.firstVideoTS)
}

func checkEarlyPlayer(t *testing.T, who string, r *playReport, wantFrames int) {
	t.Helper()
	if !r.metaBeforeMedia || !r.videoSeqFirst || !r.audioSeqFirst || !r.firstFrameKey || !r.monotonic {
		t.Errorf("%s: metadata first %v, video seq first %v, audio seq first %v, keyframe first %v, monotonic %v",
			who, r.metaBeforeMedia, r.videoSeqFirst, r.audioSeqFirst, r.firstFrameKey, r.monotonic)
	}
	if r.videoFrames < wantFrames-clipGOP || r.videoFrames > wantFrames {
		t.Errorf("%s: %d video frames, want %d within a GOP", who, r.videoFrames, wantFrames)
	}
	wantLast := uint32((wantFrames - 1) * 1000 / clipFPS)
	if d := int64(r.lastVideoTS) - int64(wantLast); d < -1000 || d > 1000 {
		t.Errorf("%s: last video timestamp %d ms, source %d ms", who, r.lastVideoTS, wantLast)
	}
	if r.unpublishNotified != 1 {
		t.Errorf("%s: %d UnpublishNotify, want 1", who, r.unpublishNotified)
	}
}
