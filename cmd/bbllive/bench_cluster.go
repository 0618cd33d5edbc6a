package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/bbllive/bbllive/bench"
)

// benchCluster is `bbllive bench cluster`: origins and edges of one
// machine, each its own process, players spread over the edges, and what
// each tier costs, with the origins' upstreams checked against the edges'
// rendezvous hashing.
func benchCluster(ctx context.Context, args []string) int {
	cfg, jsonOut, code := parseClusterFlags(args)
	if cfg == nil {
		return code
	}
	if !harnessBinaries("cluster", &cfg.ServerBin, &cfg.PublisherBin) {
		return 1
	}
	cfg.Progress = os.Stderr
	r, err := bench.RunCluster(ctx, *cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bbllive bench cluster:", err)
		return 1
	}
	bench.WriteClusterTable(os.Stdout, r)
	if jsonOut != "" {
		if err := writeFile(jsonOut, func(f *os.File) error { return r.WriteJSON(f) }); err != nil {
			fmt.Fprintln(os.Stderr, "bbllive bench cluster:", err)
			return 1
		}
	}
	if r.Error != "" || !r.Upstreams.OK || (r.Single != nil && r.Single.Error != "") {
		return 1
	}
	return 0
}

// parseClusterFlags reads bench cluster's flags into a configuration it
// has validated; nil means exit with code (0 for -h).
func parseClusterFlags(args []string) (cfg *bench.ClusterConfig, jsonOut string, code int) {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	c := &bench.ClusterConfig{}
	fs.StringVar(&c.ServerBin, "server-bin", "", "bbllive binary to start as every server (default: this one)")
	fs.IntVar(&c.Origins, "origins", bench.DefaultClusterOrigins, fmt.Sprintf("origin servers (1..%d)", bench.MaxClusterOrigins))
	fs.IntVar(&c.Edges, "edges", bench.DefaultClusterEdges, fmt.Sprintf("edge servers, each with -origin listing every origin (1..%d)", bench.MaxClusterEdges))
	fs.IntVar(&c.Streams, "streams", 1, fmt.Sprintf("synthetic streams, one publisher process each (1..%d)", bench.MaxClusterStreams))
	fs.IntVar(&c.Players, "players", 1000, fmt.Sprintf("players, round-robin over the edges (1..%d)", bench.MaxHarnessPlayers))
	fs.StringVar(&c.PublishTo, "publish-to", bench.PublishToEdge, "where the streams are published: edge (stream s to edge s mod -edges, which forwards it to its owning origin, as an encoder behind a balancer) or origin (straight to the owning origin)")
	fs.StringVar(&c.Play, "play", bench.PlayRTMP, "how the players play from the edges: rtmp, http-flv or ws-flv")
	originFlags := fs.String("origin-flags", "", `flags for every origin's "bbllive serve", e.g. '-io uring -flush interval'`)
	edgeFlags := fs.String("edge-flags", "", `flags for every edge's "bbllive serve" (and the -single server), e.g. '-io netpoll'`)
	fs.BoolVar(&c.Single, "single", false, "afterwards, measure the same streams and players on one server with -edge-flags, for comparison")
	fs.DurationVar(&c.Warmup, "warmup", 5*time.Second, "settling time after the last player is set up")
	fs.DurationVar(&c.Window, "window", 20*time.Second, "measurement window")
	jsonFile := fs.String("json", "", "also write every figure to this JSON file")
	streamFlags(fs, &c.Stream)
	loadFlags(fs, &c.Load)
	if ok, code := parseFlags(fs, args); !ok {
		return nil, "", code
	}
	for _, f := range []struct {
		name string
		s    string
		to   *[]string
	}{{"-origin-flags", *originFlags, &c.OriginFlags}, {"-edge-flags", *edgeFlags, &c.EdgeFlags}} {
		args, err := bench.SplitArgs(f.s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bbllive bench cluster: %s: %v\n", f.name, err)
			return nil, "", 2
		}
		*f.to = args
	}
	// Validate before anything starts; the binary is set afterwards.
	check := *c
	if check.ServerBin == "" {
		check.ServerBin = "bbllive"
	}
	if err := check.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "bbllive bench cluster:", err)
		return nil, "", 2
	}
	return c, *jsonFile, 0
}
