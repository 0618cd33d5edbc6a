package fmp4

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bbllive/bbllive/bench/mediatest"
)

// TestFFprobeReadsFragments writes init + fragments of a real ffmpeg
// encode and asks ffprobe what it sees: both codecs, the picture size,
// every frame, and the clip's duration.
func TestFFprobeReadsFragments(t *testing.T) {
	clip := mediatest.Default
	msgs := mediatest.Messages(t, mediatest.Path(t, clip))
	file, nv, na := fragmentAll(t, msgs)
	if nv != clip.Seconds*clip.FPS {
		t.Fatalf("the clip has %d video frames, want %d", nv, clip.Seconds*clip.FPS)
	}
	path := filepath.Join(t.TempDir(), "live.mp4")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries",
		"stream=codec_type,codec_name,width,height,nb_read_frames:format=duration", "-of", "default=nw=1", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, out)
	}
	got := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = append(got[k], v)
		}
	}
	t.Logf("ffprobe: %v", got)
	want := map[string][]string{
		"codec_name": {"h264", "aac"}, "codec_type": {"video", "audio"},
		"width": {"320"}, "height": {"240"},
		"nb_read_frames": {strconv.Itoa(nv), strconv.Itoa(na)},
	}
	for k, w := range want {
		if strings.Join(got[k], ",") != strings.Join(w, ",") {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	if len(got["duration"]) != 1 {
		t.Fatalf("no duration")
	}
	d, _ := strconv.ParseFloat(got["duration"][0], 64)
	if math.Abs(d-float64(clip.Seconds)) > 0.1 {
		t.Errorf("duration %.3f s, want %d s", d, clip.Seconds)
	}
}
