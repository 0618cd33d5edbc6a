package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench"
)

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
