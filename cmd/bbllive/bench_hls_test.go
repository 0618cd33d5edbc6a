package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench"
	"github.com/bbllive/bbllive/bench/synth"
)

// TestBenchHLSReport checks the report's arithmetic: what the remuxer
// and the viewers add over the step before, scaled per 1000 viewers, and
// that a subtraction below zero (the steps' difference is noise) or a
// load well short of the part rate is said, not printed as a figure.
func TestBenchHLSReport(t *testing.T) {
	counters := func(parts uint64) bench.HLSCounters {
		return bench.HLSCounters{Playlists: parts, Parts: parts, Bytes: parts * 25_000}
	}
	tests := []struct {
		name              string
		base, remux, load step
		want, not         []string
	}{
		{"1000 clients keeping up", step{cpu: 2}, step{cpu: 3.5}, step{cpu: 23.5, load: counters(50_000)},
			[]string{"remuxer per stream: 1.50 % of a core", "per 1000 HLS viewers: 20.00 % of a core",
				"parts/s per client: 5.00", "requests/s: 10000"},
			[]string{"not resolved", "WARNING"}},
		{"5 clients, viewers cost less than the tick noise", step{cpu: 2}, step{cpu: 2.4}, step{cpu: 2.3, load: bench.HLSCounters{Parts: 250}},
			[]string{"per 1000 HLS viewers: - (not resolved: 2.30 % of a core with it, 2.40 without; lengthen -window)"},
			[]string{"-20.00", "WARNING"}},
		{"remuxer below the baseline", step{cpu: 2.4}, step{cpu: 2.3}, step{cpu: 4, load: counters(50_000)},
			[]string{"remuxer per stream: - (not resolved"}, []string{"-0.10"}},
		{"clients short of the part rate", step{cpu: 2}, step{cpu: 3}, step{cpu: 4, load: counters(10_000)},
			[]string{"parts/s per client: 1.00", "WARNING:", "not those of 1000 clients keeping up"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 1000
			if tt.load.load.Parts == 250 {
				n = 5
			}
			var b bytes.Buffer
			writeHLSReport(&b, hlsReport{stream: synth.Config{Bitrate: 908_000}, clients: n, window: 10 * time.Second,
				partTarget: 200 * time.Millisecond, base: tt.base, remux: tt.remux, load: tt.load})
			out := strings.Join(strings.Fields(b.String()), " ") // columns aside
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("lacks %q:\n%s", w, b.String())
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out, n) {
					t.Errorf("has %q:\n%s", n, b.String())
				}
			}
		})
	}
}

func TestBenchHLSCheckLoad(t *testing.T) {
	tests := []struct {
		name string
		load step
		want string // "" for no error
	}{
		{"parts", step{load: bench.HLSCounters{Parts: 1}}, ""},
		{"nothing", step{load: bench.HLSCounters{Playlists: 4, Errors: 3, Late: 2}, lastErr: "x: 503"},
			"no client received a part in the 3s window (4 playlists, 3 failed requests, 2 of them 503; last error: x: 503)"},
		{"nothing, no error", step{}, "no client received a part in the 3s window (0 playlists, 0 failed requests, 0 of them 503; last error: none)"},
	}
	for _, tt := range tests {
		err := checkHLSLoad(tt.load, 3*time.Second)
		if got := ""; err != nil {
			got = err.Error()
			if got != tt.want {
				t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("%s: no error, want %q", tt.name, tt.want)
		}
	}
}

// TestBenchHLSClientsGetNothing runs bench hls as a user does against a
// server whose HLS is off (a wrapper adds -hls=false after the bench's
// flags, and the later flag wins): its clients get no part, so the command
// must fail, exit non-zero, say how many clients never started and why,
// and print no figures.
func TestBenchHLSClientsGetNothing(t *testing.T) {
	bin := buildBinary(t)
	wrapper := filepath.Join(t.TempDir(), "no-hls")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+bin+" \"$@\" -hls=false\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "bench", "hls", "-bin", wrapper, "-clients", "3", "-window", "300ms", "-warmup", "0s", "-start-timeout", "1s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1; stderr:\n%s", err, stderr.String())
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %v with a 1s start timeout", took)
	}
	for _, want := range []string{"3 of 3 clients got no part within 1.015s", "3 got no playlist", "404"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stdout.String(), "% of a core") {
		t.Errorf("figures printed:\n%s", stdout.String())
	}
}

func TestWriteHLSLatency(t *testing.T) {
	tests := []struct {
		name     string
		lat      bench.Summary
		holdBack time.Duration
		want     []string
		not      []string
	}{
		{"timed, with a hold-back", bench.Summary{N: 500, Min: 120, P50: 147, P99: 169.4, Max: 177}, 600 * time.Millisecond,
			[]string{"147 ms p50, 169 p99, 177 max (500 parts", "769 ms p99, 777 max", "PART-HOLD-BACK 600 ms"}, nil},
		{"no hold-back in the playlist", bench.Summary{N: 3, P50: 10, P99: 20, Max: 20}, 0,
			[]string{"10 ms p50, 20 p99, 20 max (3 parts"}, []string{"PART-HOLD-BACK"}},
		{"nothing timed", bench.Summary{}, 600 * time.Millisecond,
			[]string{"no part timed"}, []string{"p50", "PART-HOLD-BACK"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			writeHLSLatency(&b, tt.lat, tt.holdBack)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("lacks %q:\n%s", w, b.String())
				}
			}
			for _, n := range tt.not {
				if strings.Contains(b.String(), n) {
					t.Errorf("has %q:\n%s", n, b.String())
				}
			}
		})
	}
}
