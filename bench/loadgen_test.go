package bench

import (
	"context"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
)

func TestLoadGenAgainstServer(t *testing.T) {
	if err := CheckFileLimit(400); err != nil {
		t.Skip(err)
	}
	srv := startTestServer(t, "-flush", "interval", "-flush-interval", "100ms")
	url := "rtmp://" + srv.Addr + "/live/load"
	cfg := synth.Config{Bitrate: 908000, Audio: true}
	publishUntil(t, url, cfg)

	tests := []struct {
		name    string
		players int
		full    bool
	}{
		{"fast", 300, false},
		{"full", 50, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := StartLoad(context.Background(), LoadConfig{URL: url, Players: tt.players, Rate: 1000, Full: tt.full})
			if err != nil {
				t.Fatal(err)
			}
			waitRamped(t, g, 15*time.Second)
			time.Sleep(300 * time.Millisecond) // past the GOP-cache burst
			g.Mark()
			const window = 3 * time.Second
			time.Sleep(window)
			rep := g.Stop()
			if rep.Played != tt.players || rep.FirstFrame != tt.players {
				t.Fatalf("%d players set up, %d got a frame, want %d; errors %s", rep.Played, rep.FirstFrame, tt.players, rep.ErrorsLine())
			}
			if n := rep.ErrorCount(); n != 0 {
				t.Errorf("errors: %s", rep.ErrorsLine())
			}
			want := uint64(float64(cfg.Bitrate) / 8 * rep.WindowSeconds * 0.9)
			for _, p := range rep.Results {
				if p.Bytes < want {
					t.Errorf("player %d received %d bytes in %.2f s, want ≥ %d", p.Index, p.Bytes, rep.WindowSeconds, want)
				}
			}
			if rep.TTFFMs.N != tt.players || rep.TTFFMs.P50 <= 0 || rep.ConnectMs.P50 <= 0 {
				t.Errorf("ttff %+v connect %+v", rep.TTFFMs, rep.ConnectMs)
			}
			if rep.Disconnects != 0 || rep.Stalls != 0 {
				t.Errorf("%d disconnects, %d stalls", rep.Disconnects, rep.Stalls)
			}
			t.Logf("%s: connect p50 %.1f ms, ttff p50 %.1f p99 %.1f ms, kbps min %.0f p50 %.0f",
				tt.name, rep.ConnectMs.P50, rep.TTFFMs.P50, rep.TTFFMs.P99, rep.Kbps.Min, rep.Kbps.P50)
		})
	}
}
