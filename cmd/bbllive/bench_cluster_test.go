package main

import (
	"slices"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench"
)

// TestBenchClusterFlags checks that bench cluster's flags reach the
// configuration and that what cannot run is refused, with exit code 2,
// before any process starts.
func TestBenchClusterFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		check    func(t *testing.T, c *bench.ClusterConfig, jsonOut string)
	}{
		{"defaults", nil, 0, func(t *testing.T, c *bench.ClusterConfig, _ string) {
			if c.Origins != 2 || c.Edges != 2 || c.Streams != 1 || c.Players != 1000 || c.PublishTo != bench.PublishToEdge ||
				c.Play != bench.PlayRTMP || c.Window != 20*time.Second || c.Stream.Bitrate != 908000 || c.Single {
				t.Errorf("%+v", c)
			}
		}},
		{"everything", []string{"-origins", "3", "-edges", "4", "-streams", "2", "-players", "500", "-publish-to", "origin",
			"-play", "http-flv", "-origin-flags", "-io uring -flush interval", "-edge-flags", "-io 'netpoll'", "-single",
			"-window", "3s", "-warmup", "1s", "-bitrate", "4M", "-json", "out.json", "-server-bin", "/bin/bbllive"}, 0,
			func(t *testing.T, c *bench.ClusterConfig, jsonOut string) {
				if c.Origins != 3 || c.Edges != 4 || c.Streams != 2 || c.Players != 500 || c.PublishTo != "origin" ||
					c.Play != "http-flv" || !c.Single || c.Window != 3*time.Second || c.Warmup != time.Second ||
					c.Stream.Bitrate != 4000000 || c.ServerBin != "/bin/bbllive" || jsonOut != "out.json" {
					t.Errorf("%+v json %q", c, jsonOut)
				}
				if !slices.Equal(c.OriginFlags, []string{"-io", "uring", "-flush", "interval"}) || !slices.Equal(c.EdgeFlags, []string{"-io", "netpoll"}) {
					t.Errorf("origin flags %q, edge flags %q", c.OriginFlags, c.EdgeFlags)
				}
			}},
		{"help", []string{"-h"}, 0, nil},
		{"no origin", []string{"-origins", "0"}, 2, nil},
		{"too many origins", []string{"-origins", "5"}, 2, nil},
		{"too many edges", []string{"-edges", "9"}, 2, nil},
		{"too many streams", []string{"-streams", "17"}, 2, nil},
		{"no players", []string{"-players", "0"}, 2, nil},
		{"too many players", []string{"-players", "10001"}, 2, nil},
		{"publish to a CDN", []string{"-publish-to", "cdn"}, 2, nil},
		{"play HLS", []string{"-play", "hls"}, 2, nil},
		{"window too long", []string{"-window", "11m"}, 2, nil},
		{"edge flags set the origins", []string{"-edge-flags", "-origin rtmp://elsewhere"}, 2, nil},
		{"origin flags set -http", []string{"-origin-flags", "-http=:8080"}, 2, nil},
		{"unclosed quote", []string{"-edge-flags", "-io 'uring"}, 2, nil},
		{"unknown flag", []string{"-nodes", "3"}, 2, nil},
		{"stray argument", []string{"now"}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, jsonOut, code := parseClusterFlags(tt.args)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d", code, tt.wantCode)
			}
			if tt.check == nil {
				if c != nil {
					t.Fatalf("got a configuration %+v, want none", c)
				}
				return
			}
			if c == nil {
				t.Fatal("no configuration")
			}
			tt.check(t, c, jsonOut)
		})
	}
}
