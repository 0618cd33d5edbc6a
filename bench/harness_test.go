package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
)

// TestRunBenchSmall runs the harness end to end at toy size: two
// configurations, a few players, a two-second window.
func TestRunBenchSmall(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("counting the server's syscalls with eBPF needs root")
	}
	cfg := RunConfig{
		ServerBin: serverBinary(t),
		Configs:   []ServerConfig{Presets[2], {Name: "msg", Flags: []string{"-flush", "message"}}},
		Players:   []int{20},
		Warmup:    500 * time.Millisecond,
		Window:    2 * time.Second,
		Stream:    synth.Config{Audio: true},
		Load:      LoadConfig{Rate: 1000},
		Count:     "bpf",
	}
	results, err := RunBench(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 {
		t.Fatalf("%d results", len(results))
	}
	for _, r := range results {
		if r.Error != "" {
			t.Fatalf("%s: %s", r.Config, r.Error)
		}
		if r.Load.Played != 20 || r.Load.ErrorCount() != 0 || r.Bytes == 0 {
			t.Errorf("%s: %d played, errors %s, %d bytes", r.Config, r.Load.Played, r.Load.ErrorsLine(), r.Bytes)
		}
		if r.ServerCPUSeconds <= 0 || r.RSSBytes == 0 {
			t.Errorf("%s: cpu %v s, rss %d", r.Config, r.ServerCPUSeconds, r.RSSBytes)
		}
		if !r.Syscalls.Counted || r.Syscalls.Method != "bpf" || r.Syscalls.Total == 0 {
			t.Errorf("%s: syscalls %+v", r.Config, r.Syscalls)
		}
	}
	// Flushing per message makes more writes than every 100 ms.
	if results[1].SyscallsPerSec <= results[0].SyscallsPerSec {
		t.Errorf("per-message flush: %.0f syscalls/s, 100 ms: %.0f", results[1].SyscallsPerSec, results[0].SyscallsPerSec)
	}
	var b bytes.Buffer
	WriteTable(&b, results)
	if !strings.Contains(b.String(), "netpoll-100ms") || !strings.Contains(b.String(), "syscalls counted by: bpf") {
		t.Errorf("table:\n%s", b.String())
	}
}

func TestRunBenchRefusesUnbounded(t *testing.T) {
	base := RunConfig{ServerBin: "/bin/false", Configs: Presets[:1], Players: []int{10}}
	tests := []func(*RunConfig){
		func(c *RunConfig) { c.Players = []int{MaxHarnessPlayers + 1} },
		func(c *RunConfig) { c.Players = []int{0} },
		func(c *RunConfig) { c.Window = time.Hour },
		func(c *RunConfig) { c.Configs = nil },
		func(c *RunConfig) { c.ServerBin = "" },
		func(c *RunConfig) { c.Stream.FPS = 1000 },
	}
	for i, mod := range tests {
		c := base
		mod(&c)
		if _, err := RunBench(context.Background(), c); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
}

func TestAutoRcvLowat(t *testing.T) {
	tests := []struct{ bitrate, want int }{
		{0, 0},
		{908_000, 28375},
		{64_000, 4096},       // floor
		{50_000_000, 262144}, // cap
	}
	for _, tt := range tests {
		if got := autoRcvLowat(tt.bitrate); got != tt.want {
			t.Errorf("autoRcvLowat(%d) = %d, want %d", tt.bitrate, got, tt.want)
		}
	}
}
