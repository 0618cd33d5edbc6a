package bench

import (
	"fmt"

	"github.com/bbllive/bbllive/fanout/relay"
)

// clusterPlan is where a cluster run puts each stream and player: what
// the upstream check holds the servers' own metrics to.
type clusterPlan struct {
	keys        []string // the streams, live/bench_0 …
	originAddrs []string // the origins' RTMP addresses, as the edges list them
	owner       []string // per stream: its owning origin's address
	pubEdge     []int    // per stream: the edge it is published to; -1: its origin
	edgePlays   [][]bool // [edge][stream]: the edge has players of the stream
}

// newClusterPlan lays out cfg's streams and players. The owner of a stream
// comes from the edges' own ranking (relay.Rank over the addresses they
// are given), so the check tests that every edge agrees with it.
func newClusterPlan(cfg *ClusterConfig, originAddrs []string) clusterPlan {
	p := clusterPlan{originAddrs: originAddrs}
	for s := range cfg.Streams {
		key := fmt.Sprintf("live/bench_%d", s)
		p.keys = append(p.keys, key)
		p.owner = append(p.owner, relay.Rank(key, originAddrs)[0])
		pub := -1
		if cfg.PublishTo == PublishToEdge {
			pub = s % cfg.Edges
		}
		p.pubEdge = append(p.pubEdge, pub)
	}
	for e := range cfg.Edges {
		// Player i plays from edge i mod Edges, stream (i / Edges) mod
		// Streams: edge e's n players play streams 0, 1, … in turn.
		n := (cfg.Players - e + cfg.Edges - 1) / cfg.Edges
		row := make([]bool, cfg.Streams)
		for s := range row {
			row[s] = s < n
		}
		p.edgePlays = append(p.edgePlays, row)
	}
	return p
}

// pulls reports whether edge e should pull stream s: it has players of it,
// and it was not published there (an edge serves what it receives itself
// and forwards it instead).
func (p *clusterPlan) pulls(e, s int) bool { return p.edgePlays[e][s] && p.pubEdge[s] != e }

// UpstreamCheck holds the servers' own metrics to what rendezvous hashing
// says: every edge keeps one upstream per stream it serves — a pull of the
// stream, or the forward of a publish it received — to the stream's owning
// origin, and no other origin serves the stream at all.
type UpstreamCheck struct {
	OK bool `json:"ok"`
	// Want and Got count edge-to-origin upstreams: pulls plus forwarded
	// publishes (Edges × Streams once every edge has players of every
	// stream); Got is counted on the origins.
	Want     int `json:"want"`
	Got      int `json:"got"`
	Pulls    int `json:"pulls"`               // play connections the origins serve
	Forwards int `json:"forwarded_publishes"` // publishes the origins receive from edges
	// Streams is each stream's upstreams, origin by origin.
	Streams []StreamUpstreams `json:"streams"`
	// Mismatches say what differs from the plan; empty when OK.
	Mismatches []string `json:"mismatches,omitempty"`
}

// StreamUpstreams is one stream's upstreams.
type StreamUpstreams struct {
	Stream      string `json:"stream"`
	Owner       string `json:"owner"`        // "origin 2"
	PublishedTo string `json:"published_to"` // "edge 1", or the owner
	WantPulls   int    `json:"want_pulls"`
	// Pulls and Live are, by origin, the stream's play connections there
	// (all of them edges' pulls) and whether it has its publisher.
	Pulls map[string]int `json:"pulls"`
	Live  map[string]int `json:"live"`
}

// check compares servers (origins in the order of p.originAddrs, then
// edges) with the plan.
func (p *clusterPlan) check(servers []TierServer) UpstreamCheck {
	var origins, edges []TierServer
	for _, s := range servers {
		if s.Tier == TierOrigin {
			origins = append(origins, s)
		} else {
			edges = append(edges, s)
		}
	}
	var chk UpstreamCheck
	miss := func(format string, args ...any) {
		chk.Mismatches = append(chk.Mismatches, fmt.Sprintf(format, args...))
	}
	for s, key := range p.keys {
		su := StreamUpstreams{Stream: key, Pulls: map[string]int{}, Live: map[string]int{}}
		for e := range edges {
			if p.pulls(e, s) {
				su.WantPulls++
			}
		}
		for _, o := range origins {
			pulls, live := o.StreamPlayers[key], o.StreamLive[key]
			su.Pulls[o.Name()], su.Live[o.Name()] = pulls, live
			wantPulls, wantLive := 0, 0
			if o.Addr == p.owner[s] {
				su.Owner = o.Name()
				wantPulls, wantLive = su.WantPulls, 1
			}
			if pulls != wantPulls {
				miss("%s: %s serves %s of it, want %d (its owner is %s)", key, o.Name(), Counted(pulls, "pull", "pulls"), wantPulls, p.owner[s])
			}
			if live != wantLive {
				miss("%s: %s has %s of it, want %d (its owner is %s)", key, o.Name(), Counted(live, "publisher", "publishers"), wantLive, p.owner[s])
			}
			chk.Pulls += pulls
			if p.pubEdge[s] >= 0 {
				chk.Forwards += live
			}
		}
		su.PublishedTo = su.Owner
		chk.Want += su.WantPulls
		if e := p.pubEdge[s]; e >= 0 {
			su.PublishedTo = edges[e].Name()
			chk.Want++
		}
		chk.Streams = append(chk.Streams, su)
	}
	for e, ed := range edges {
		wantPulls, wantForwards := 0, 0
		for s := range p.keys {
			if p.pulls(e, s) {
				wantPulls++
			}
			if p.pubEdge[s] == e {
				wantForwards++
			}
		}
		if ed.EdgePulls != wantPulls || ed.EdgeForwards != wantForwards {
			miss("%s: pulls %s and forwards %s, want %d and %d", ed.Name(), Counted(ed.EdgePulls, "stream", "streams"),
				Counted(ed.EdgeForwards, "publish", "publishes"), wantPulls, wantForwards)
		}
	}
	chk.Got = chk.Pulls + chk.Forwards
	if chk.Got != chk.Want {
		miss("the origins serve %s (%s), want %d", Counted(chk.Got, "upstream", "upstreams"), pullsAndForwards(chk.Pulls, chk.Forwards), chk.Want)
	}
	chk.OK = len(chk.Mismatches) == 0
	return chk
}
