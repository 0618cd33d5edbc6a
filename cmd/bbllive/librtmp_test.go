package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestLibrtmpPlayer plays with rtmpdump, the librtmp client that OBS-era
// tools, VLC builds and many set-top players share, and checks with
// ffprobe that it recorded the whole clip.
func TestLibrtmpPlayer(t *testing.T) { eachTransport(t, testLibrtmpPlayer) }

func testLibrtmpPlayer(t *testing.T) {
	clip := testClip(t)
	if _, err := exec.LookPath("rtmpdump"); err != nil {
		t.Skipf("rtmpdump (librtmp) not installed (apt-get install rtmpdump): %v", err)
	}
	srv := startServer(t, "-publish-grace", "3s")
	out := filepath.Join(t.TempDir(), "librtmp.flv")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	player := exec.CommandContext(ctx, "rtmpdump", "-q", "--live", "-r", srv.url("lib"), "-o", out)
	if err := player.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "rtmpdump playing", func() bool { return srv.logs.Count(waitingForPublisher) >= 1 })
	if err := ffmpegPublish(t, clip, srv.url("lib"))(); err != nil {
		t.Fatal(err)
	}
	// rtmpdump ends on the UnpublishNotify; its exit status reports an
	// incomplete download of a live stream, so judge by what it recorded.
	player.Wait()
	got := ffprobe(t, out)
	src := ffprobe(t, clip)
	if !slices.Contains(got.codecs, "h264") || !slices.Contains(got.codecs, "aac") {
		t.Errorf("rtmpdump recorded codecs %v, want h264 and aac", got.codecs)
	}
	if got.videoPackets < src.videoPackets-clipGOP || !got.firstVideoK {
		t.Errorf("rtmpdump recorded %d of %d video packets (first a keyframe: %v)", got.videoPackets, src.videoPackets, got.firstVideoK)
	}
}
