package bench

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/bbllive/bbllive/bench/synth"
)

func TestSynthArgs(t *testing.T) {
	cases := []struct {
		sc   synth.Config
		want []string
	}{
		{synth.Config{}, []string{"-audio=false"}},
		{synth.Config{Bitrate: 500000, GOP: 25, Audio: true}, []string{"-bitrate", "500000", "-gop", "25", "-audio=true"}},
		{synth.Config{FPS: 30, Width: 1280, Height: 720}, []string{"-fps", "30", "-width", "1280", "-height", "720", "-audio=false"}},
	}
	for _, c := range cases {
		if got := synthArgs(c.sc); !slices.Equal(got, c.want) {
			t.Errorf("synthArgs(%+v) = %q, want %q", c.sc, got, c.want)
		}
	}
}

func TestPublisherProcessFailsClearly(t *testing.T) {
	// A publisher that cannot reach a server exits before it is ready; the
	// error must say so and carry its log.
	bin := serverBinary(t)
	_, err := StartPublisherProcess(context.Background(), bin, "rtmp://127.0.0.1:1/live/x_{i}", 1, synth.Config{})
	if err == nil || !strings.Contains(err.Error(), "publisher exited") || !strings.Contains(err.Error(), "bench publish") {
		t.Fatalf("err = %v, want the publisher's exit with its log", err)
	}
}
