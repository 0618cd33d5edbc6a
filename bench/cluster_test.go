package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
)

// TestRunCluster runs two origins and two edges as real processes, one
// stream, 20 players over the edges and a two-second window, published
// to an edge and to the owning origin, and holds the report to what the
// cluster must do: every upstream on the stream's owner, none on the other
// origin, media to every player.
func TestRunCluster(t *testing.T) {
	tests := []struct {
		name      string
		publishTo string
		single    bool
		// On the owner: pulls (edges' play connections) and publishes.
		wantPulls, wantForwards int
		wantEdge                [][2]int // per edge: pulls, forwards
	}{
		// Edge 1 receives the publish and forwards it; edge 2 pulls.
		{"publish-to-edge", PublishToEdge, false, 1, 1, [][2]int{{0, 1}, {1, 0}}},
		// Both edges pull; the single server runs beside for comparison.
		{"publish-to-origin", PublishToOrigin, true, 2, 0, [][2]int{{1, 0}, {1, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ClusterConfig{
				ServerBin: serverBinary(t),
				PublishTo: tt.publishTo,
				Players:   20,
				Warmup:    500 * time.Millisecond,
				Window:    2 * time.Second,
				// 8 Mbit/s, so that the owning origin's work in two
				// seconds is several clock ticks of CPU, not one.
				Stream: synth.Config{Bitrate: 8_000_000, Audio: true},
				Load:   LoadConfig{Rate: 1000},
				Single: tt.single,
			}
			r, err := RunCluster(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var table bytes.Buffer
			WriteClusterTable(&table, r)
			t.Logf("\n%s", table.String())
			if r.Error != "" {
				t.Fatalf("run failed: %s", r.Error)
			}
			if rep := r.Load; rep.Played != 20 || rep.FirstFrame != 20 || rep.ErrorCount() != 0 || rep.Disconnects != 0 || rep.Stalls != 0 || r.Bytes == 0 {
				t.Errorf("players: %d set up, %d with a frame, %d disconnected, %d stalls, errors %s, %d bytes",
					rep.Played, rep.FirstFrame, rep.Disconnects, rep.Stalls, rep.ErrorsLine(), r.Bytes)
			}
			u := r.Upstreams
			if !u.OK || u.Want != 2 || u.Got != 2 || u.Pulls != tt.wantPulls || u.Forwards != tt.wantForwards {
				t.Errorf("upstreams %+v", u)
			}
			if len(u.Streams) != 1 || u.Streams[0].Owner == "" {
				t.Fatalf("streams %+v", u.Streams)
			}
			owner := u.Streams[0].Owner
			if len(r.Servers) != 4 {
				t.Fatalf("%d servers", len(r.Servers))
			}
			for i, s := range r.Servers {
				switch {
				case s.Tier == TierOrigin && s.Name() == owner:
					if s.Players != tt.wantPulls || s.Publishers != 1 || s.CPUPercent <= 0 {
						t.Errorf("owner %s: %d pulls, %d publishers, %.2f %% CPU", s.Name(), s.Players, s.Publishers, s.CPUPercent)
					}
				case s.Tier == TierOrigin:
					// It has nothing to do: its CPU may be below one clock
					// tick in two seconds, so only its counts are checked.
					if s.Players != 0 || s.Publishers != 0 || s.CPUPercent < 0 {
						t.Errorf("other origin %s: %d pulls, %d publishers, %.2f %% CPU", s.Name(), s.Players, s.Publishers, s.CPUPercent)
					}
				default:
					e := i - 2
					if s.Players != 10 || s.CPUPercent <= 0 || s.EdgePulls != tt.wantEdge[e][0] || s.EdgeForwards != tt.wantEdge[e][1] {
						t.Errorf("%s: %d players, %.2f %% CPU, pulls %d forwards %d, want 10 players, pulls/forwards %v",
							s.Name(), s.Players, s.CPUPercent, s.EdgePulls, s.EdgeForwards, tt.wantEdge[e])
					}
				}
				if s.RSSBytes == 0 {
					t.Errorf("%s: no RSS", s.Name())
				}
			}
			if r.OwnersReadyMs <= 0 {
				t.Errorf("owners ready after %v ms", r.OwnersReadyMs)
			}
			if r.EdgeTier.Servers != 2 || r.EdgeTier.CPUPercent <= 0 || r.EdgeTier.CPUPer1000 <= 0 || r.OriginTier.Servers != 2 {
				t.Errorf("tiers: origin %+v edge %+v", r.OriginTier, r.EdgeTier)
			}
			// 20 fast-mode players may cost the generator less than a
			// clock tick in the window; the publisher's 8 Mbit/s does not.
			if r.GenCPUPercent < 0 || r.PubCPUPercent <= 0 {
				t.Errorf("load generator %.2f %%, publishers %.2f %%", r.GenCPUPercent, r.PubCPUPercent)
			}
			if !strings.Contains(table.String(), "upstreams    ok: 2") {
				t.Errorf("table does not say the upstreams are right")
			}
			if tt.single {
				if s := r.Single; s == nil || s.Error != "" || s.Load.Played != 20 || s.ServerCPUPercent <= 0 {
					t.Errorf("single server: %+v", s)
				}
			}
			var js bytes.Buffer
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var back ClusterResult
			if err := json.Unmarshal(js.Bytes(), &back); err != nil || !back.Upstreams.OK || len(back.Servers) != 4 {
				t.Errorf("JSON round trip: %v, %+v", err, back.Upstreams)
			}
		})
	}
}

// TestUpstreamCheck holds made-up server figures to a plan of two origins,
// two edges and two streams: what differs is named, loudly.
func TestUpstreamCheck(t *testing.T) {
	cfg := &ClusterConfig{Origins: 2, Edges: 2, Streams: 2, Players: 100, PublishTo: PublishToOrigin}
	addrs := []string{"127.0.0.1:1001", "127.0.0.1:1002"}
	plan := newClusterPlan(cfg, addrs)
	// right is what a working cluster reports: each owner serves both
	// edges' pulls of its stream and has its publisher.
	right := func() []TierServer {
		origins := []TierServer{
			{Tier: TierOrigin, Index: 1, Addr: addrs[0], StreamPlayers: map[string]int{}, StreamLive: map[string]int{}},
			{Tier: TierOrigin, Index: 2, Addr: addrs[1], StreamPlayers: map[string]int{}, StreamLive: map[string]int{}},
		}
		for s, key := range plan.keys {
			o := &origins[0]
			if plan.owner[s] == addrs[1] {
				o = &origins[1]
			}
			o.StreamPlayers[key], o.StreamLive[key] = 2, 1
		}
		return append(origins,
			TierServer{Tier: TierEdge, Index: 1, EdgePulls: 2},
			TierServer{Tier: TierEdge, Index: 2, EdgePulls: 2})
	}
	other := func(s int) int { // index of the origin that does not own stream s
		if plan.owner[s] == addrs[0] {
			return 1
		}
		return 0
	}
	tests := []struct {
		name   string
		mutate func(ss []TierServer)
		want   string // in a mismatch; "" for none
	}{
		{"right", func([]TierServer) {}, ""},
		{"pull from the wrong origin", func(ss []TierServer) {
			ss[other(0)].StreamPlayers[plan.keys[0]] = 1
		}, "want 0"},
		{"second pull of a stream", func(ss []TierServer) {
			ss[1-other(1)].StreamPlayers[plan.keys[1]] = 3
		}, "serves 3 pulls"},
		{"edge missing a pull", func(ss []TierServer) { ss[3].EdgePulls = 1 }, "edge 2: pulls 1 stream and"},
		{"publish on the wrong origin", func(ss []TierServer) {
			ss[other(0)].StreamLive[plan.keys[0]] = 1
		}, "1 publisher of it, want 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := right()
			tt.mutate(ss)
			chk := plan.check(ss)
			if tt.want == "" {
				if !chk.OK || chk.Want != 4 || chk.Got != 4 || chk.Pulls != 4 || chk.Forwards != 0 {
					t.Fatalf("%+v", chk)
				}
				return
			}
			if chk.OK || !strings.Contains(strings.Join(chk.Mismatches, "\n"), tt.want) {
				t.Fatalf("want a mismatch saying %q, got ok=%v %q", tt.want, chk.OK, chk.Mismatches)
			}
			var b bytes.Buffer
			writeUpstreams(&b, &chk)
			if !strings.Contains(b.String(), "UPSTREAM MISMATCH") {
				t.Errorf("not loud: %s", b.String())
			}
		})
	}
}

// TestClusterPlan checks where the players go: with fewer players than
// edges × streams, an edge has players of the first streams only, and an
// edge a stream is published to does not pull it.
func TestClusterPlan(t *testing.T) {
	tests := []struct {
		name      string
		cfg       ClusterConfig
		wantPulls [][]bool // [edge][stream]
	}{
		{"enough players", ClusterConfig{Edges: 2, Streams: 2, Players: 8, PublishTo: PublishToOrigin},
			[][]bool{{true, true}, {true, true}}},
		{"three players", ClusterConfig{Edges: 2, Streams: 2, Players: 3, PublishTo: PublishToOrigin},
			[][]bool{{true, true}, {true, false}}},
		{"published to edges", ClusterConfig{Edges: 2, Streams: 3, Players: 60, PublishTo: PublishToEdge},
			[][]bool{{false, true, false}, {true, false, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newClusterPlan(&tt.cfg, []string{"127.0.0.1:1", "127.0.0.1:2"})
			for e, row := range tt.wantPulls {
				for s, want := range row {
					if got := p.pulls(e, s); got != want {
						t.Errorf("edge %d stream %d: pulls %v, want %v", e, s, got, want)
					}
				}
			}
			// The plan's players agree with the load generator's spread.
			lc := LoadConfig{URLs: []string{"rtmp://e0/live/bench_{i%" + strconv.Itoa(tt.cfg.Streams) + "}", "rtmp://e1/live/bench_{i%" + strconv.Itoa(tt.cfg.Streams) + "}"}}
			seen := map[string]bool{}
			for i := range tt.cfg.Players {
				seen[lc.playerURL(i)] = true
			}
			for e := range tt.cfg.Edges {
				for s := range tt.cfg.Streams {
					url := "rtmp://e" + strconv.Itoa(e) + "/live/bench_" + strconv.Itoa(s)
					if seen[url] != p.edgePlays[e][s] {
						t.Errorf("%s: played %v, plan says %v", url, seen[url], p.edgePlays[e][s])
					}
				}
			}
		})
	}
}

func TestClusterConfigValidate(t *testing.T) {
	good := func() ClusterConfig {
		c := ClusterConfig{ServerBin: "bbllive", Players: 10}
		c.withDefaults()
		return c
	}
	tests := []struct {
		name   string
		change func(c *ClusterConfig)
		want   string // "" for valid
	}{
		{"defaults", func(*ClusterConfig) {}, ""},
		{"no origin", func(c *ClusterConfig) { c.Origins = 0 }, "0 origins"},
		{"too many origins", func(c *ClusterConfig) { c.Origins = MaxClusterOrigins + 1 }, "origins"},
		{"too many edges", func(c *ClusterConfig) { c.Edges = MaxClusterEdges + 1 }, "edges"},
		{"too many streams", func(c *ClusterConfig) { c.Streams = MaxClusterStreams + 1 }, "streams"},
		{"too many players", func(c *ClusterConfig) { c.Players = MaxHarnessPlayers + 1 }, "players"},
		{"unknown publish target", func(c *ClusterConfig) { c.PublishTo = "cdn" }, "publish to"},
		{"unknown play", func(c *ClusterConfig) { c.Play = "hls" }, "play"},
		{"long window", func(c *ClusterConfig) { c.Window = MaxWindow + time.Second }, "window"},
		{"edge flags set -origin", func(c *ClusterConfig) { c.EdgeFlags = []string{"-origin", "rtmp://x"} }, "-origin"},
		{"origin flags set -listen", func(c *ClusterConfig) { c.OriginFlags = []string{"--listen=:1935"} }, "-listen"},
		{"tier flags", func(c *ClusterConfig) { c.EdgeFlags = []string{"-io", "netpoll"} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
