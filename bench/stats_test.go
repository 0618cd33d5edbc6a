package bench

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	thousand := make([]float64, 1000)
	for i := range thousand {
		thousand[i] = float64(i + 1)
	}
	tests := []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{5}, 50, 5},
		{[]float64{5}, 99, 5},
		{[]float64{1, 2}, 50, 1},
		{[]float64{1, 2, 3}, 50, 2},
		{[]float64{1, 2, 3, 4}, 50, 2},
		{hundred, 50, 50},
		{hundred, 99, 99},
		{hundred, 100, 100},
		{thousand, 99, 990},
		{thousand, 0.01, 1},
	}
	for _, tt := range tests {
		if got := Percentile(tt.xs, tt.p); got != tt.want {
			t.Errorf("Percentile(%d values, %v) = %v, want %v", len(tt.xs), tt.p, got, tt.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("Percentile(nil) is not NaN")
	}
}

func TestSummaryOf(t *testing.T) {
	s := SummaryOf([]float64{9, 1, 5, 3, 7})
	if s != (Summary{N: 5, Min: 1, P50: 5, P99: 9, Max: 9}) {
		t.Errorf("summary %+v", s)
	}
	in := []float64{3, 1, 2}
	SummaryOf(in)
	if in[0] != 3 {
		t.Error("SummaryOf sorted its argument")
	}
	if (SummaryOf(nil) != Summary{}) {
		t.Error("empty summary not zero")
	}
}

func TestReport(t *testing.T) {
	window := 2 * time.Second
	results := []PlayerResult{
		{Started: true, Played: true, ConnectMs: 1, TTFFMs: 10, Bytes: 250_000},            // 1000 kbps
		{Started: true, Played: true, ConnectMs: 3, TTFFMs: 30, Bytes: 125_000, Stalls: 2}, // 500 kbps
		{Started: true, Played: true, ConnectMs: 2, TTFFMs: -1, Bytes: 0, Disconnected: true, // no frame
			Error: "read/reset"},
		{Started: true, Error: "dial/refused"},
		{Started: true, Error: "dial/refused"},
		{Started: true, Played: true, ConnectMs: 4, TTFFMs: 20, Bytes: 250_000,
			Violations: map[string]int{ViolationGap: 3}},
		{}, // never started
	}
	r := Report("fast", results, window)
	checks := []struct {
		name      string
		got, want float64
	}{
		{"players", float64(r.Players), 7},
		{"started", float64(r.Started), 6},
		{"played", float64(r.Played), 4},
		{"first frame", float64(r.FirstFrame), 3},
		{"disconnects", float64(r.Disconnects), 1},
		{"bytes", float64(r.Bytes), 625_000},
		{"stalls", float64(r.Stalls), 2},
		{"stalled players", float64(r.StalledPlayers), 1},
		{"connect n", float64(r.ConnectMs.N), 4},
		{"connect p50", r.ConnectMs.P50, 2},
		{"connect max", r.ConnectMs.Max, 4},
		{"ttff n", float64(r.TTFFMs.N), 3},
		{"ttff p50", r.TTFFMs.P50, 20},
		{"kbps min", r.Kbps.Min, 0},
		{"kbps p50", r.Kbps.P50, 500},
		{"kbps max", r.Kbps.Max, 1000},
		{"player 0 kbps", r.Results[0].Kbps, 1000},
		{"gbps", r.Gbps(), 0.0025},
		{"errors", float64(r.ErrorCount()), 1 + 2 + 3},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if got, want := r.ErrorsLine(), "dial/refused=2 stream/gap=3 read/reset=1"; got != "stream/gap=3 dial/refused=2 read/reset=1" {
		t.Errorf("errors line %q (want most frequent first, not %q)", got, want)
	}
	var b strings.Builder
	r.WriteText(&b)
	for _, want := range []string{"6 started, 4 playing, 3 with a frame, 1 disconnected", "p50 2.0", "min 0  p50 500", "stalls       2 (1 player)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestResultFill(t *testing.T) {
	r := Result{Players: 1000, Load: &LoadReport{Bytes: 2_500_000_000, WindowSeconds: 20}}
	r.fill(5, 20*time.Second, 100<<20, 120<<20, SyscallFigures{Counted: true, Total: 50_000})
	checks := []struct {
		name      string
		got, want float64
	}{
		{"cpu pct", r.ServerCPUPercent, 25},
		{"cpu per 1000", r.CPUPer1000, 25},
		{"gbps", r.Gbps, 1},
		{"cpu per gbit", r.CPUPerGbit, 0.25},
		{"syscalls/s", r.SyscallsPerSec, 2500},
		{"syscalls/GB", r.SyscallsPerGB, 20000},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestKbps(t *testing.T) {
	if got := kbps(125_000, time.Second); got != 1000 {
		t.Errorf("kbps = %v", got)
	}
	if got := kbps(1, 0); got != 0 {
		t.Errorf("kbps over no time = %v", got)
	}
}
