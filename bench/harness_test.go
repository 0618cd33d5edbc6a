package bench

import (
	"bytes"
	"context"
	"fmt"
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

// TestRunBenchFloorRounds runs the floor beside the io_uring server in two
// rounds: the floor starts as `bench floor`, rounds alternate their order,
// and the two are compared round by round.
func TestRunBenchFloorRounds(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("counting the server's syscalls with eBPF needs root")
	}
	configs, err := LookupPreset("100ms")
	if err != nil {
		t.Fatal(err)
	}
	configs = configs[1:] // uring-100ms, floor-100ms
	cfg := RunConfig{
		ServerBin: serverBinary(t),
		Configs:   configs,
		Players:   []int{50},
		Repeat:    2,
		Warmup:    300 * time.Millisecond,
		Window:    2 * time.Second,
		Stream:    synth.Config{Audio: true},
		Load:      LoadConfig{Rate: 1000},
		Count:     "bpf",
	}
	results, err := RunBench(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range results {
		order = append(order, fmt.Sprintf("%s/%d", r.Config, r.Round))
		if r.Error != "" || r.Load.Played != 50 || r.Bytes == 0 {
			t.Fatalf("%s round %d: error %q, %d played, %d bytes", r.Config, r.Round, r.Error, r.Load.Played, r.Bytes)
		}
		uring := r.Syscalls.IOUringEnter > 0
		if uring != (r.Config == "uring-100ms") || (r.Config == "floor-100ms" && r.Syscalls.Write == 0) {
			t.Errorf("%s: %d io_uring_enter, %d write: not the process it names", r.Config, r.Syscalls.IOUringEnter, r.Syscalls.Write)
		}
	}
	if want := "uring-100ms/1 floor-100ms/1 floor-100ms/2 uring-100ms/2"; strings.Join(order, " ") != want {
		t.Errorf("runs %s, want %s", strings.Join(order, " "), want)
	}
	// At this size a run's CPU may be under one clock tick, which Compare
	// leaves out; pairing itself is TestComparePairsRunsOfTheSameRound's.
	ratios := Compare(results)
	if len(ratios) != 1 || ratios[0].A != "uring-100ms" || ratios[0].B != "floor-100ms" || ratios[0].Rounds < 1 || ratios[0].CPU <= 0 {
		t.Errorf("ratios %+v", ratios)
	}
}

func TestRunBenchRefusesUnbounded(t *testing.T) {
	base := RunConfig{ServerBin: "/bin/false", Configs: Presets[:1], Players: []int{10}}
	tests := []func(*RunConfig){
		func(c *RunConfig) { c.Players = []int{MaxRunPlayers + 1} },
		func(c *RunConfig) { c.Players = []int{0} },
		func(c *RunConfig) { c.Window = time.Hour },
		func(c *RunConfig) { c.Configs = nil },
		func(c *RunConfig) { c.ServerBin = "" },
		func(c *RunConfig) { c.Stream.FPS = 1000 },
		func(c *RunConfig) { c.Repeat = MaxRepeat + 1 },
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
