package hls

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/mediatest"
	"github.com/bbllive/bbllive/bench/synth"
)

// TestTSSegments: with -hls-segment ts, the playlist keeps the LL-HLS
// rules without EXT-X-MAP, and the segments of a real ffmpeg encode,
// back to back, are a transport stream ffprobe decodes frame for frame.
func TestTSSegments(t *testing.T) {
	f := newFeeder(t, Config{SegmentTarget: time.Second, Format: FormatTS, Window: 100})
	f.feed(synth.Config{GOP: 25, Audio: true}, 3*time.Second)
	if body := string(f.seg.render("e", "")); strings.Contains(body, "EXT-X-MAP") || !strings.Contains(body, "e-1.ts") {
		t.Fatalf("TS playlist:\n%s", body)
	}

	clip := mediatest.Default
	msgs := mediatest.Messages(t, mediatest.Path(t, clip))
	f = newFeeder(t, Config{SegmentTarget: time.Second, Format: FormatTS, Window: 100})
	for _, m := range msgs {
		f.seg.handle(m.Type, m.Timestamp, m.Payload, false)
	}
	f.seg.breakMedia()
	var ts []byte
	for _, g := range f.seg.segments {
		for _, p := range g.parts {
			ts = append(ts, p.data...)
		}
	}
	if len(ts)%188 != 0 {
		t.Fatalf("%d bytes: not whole TS packets", len(ts))
	}
	path := filepath.Join(t.TempDir(), "all.ts")
	os.WriteFile(path, ts, 0o644)
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries",
		"stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, out)
	}
	got := strings.Fields(strings.TrimSpace(string(out)))
	t.Logf("ffprobe: %v", got)
	if len(got) == 4 { // the program's streams, then the same streams again
		got = got[:2]
	}
	if len(got) != 2 || got[0] != "h264,320,240,100" || !strings.HasPrefix(got[1], "aac,") {
		t.Fatalf("ffprobe of the TS segments: %q, want h264 320x240 with all 100 frames, and aac", got)
	}
	// The audio frames: every one of the clip's.
	if n := strings.TrimPrefix(got[1], "aac,"); n != "174" && n != "173" {
		t.Errorf("%s AAC frames, want the clip's 174", n)
	}
}
