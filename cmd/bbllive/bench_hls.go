package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bbllive/bbllive/bench"
	"github.com/bbllive/bbllive/bench/synth"
)

// benchHLS is `bbllive bench hls`: what LL-HLS viewers and the remuxer
// cost the server. It runs the server as its own process three times
// over with one synthetic stream: without HLS, with the stream's remuxer
// running and no viewer, and with N LL-HLS clients (blocking reloads,
// every part fetched), and reports server CPU for each step and how far
// behind live the clients got their parts.
func benchHLS(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hls", flag.ContinueOnError)
	var sc synth.Config
	clients := fs.Int("clients", 1000, "LL-HLS clients")
	window := fs.Duration("window", 10*time.Second, "measurement window of each step")
	warmup := fs.Duration("warmup", 3*time.Second, "time before each window")
	bin := fs.String("bin", "", "bbllive binary to run as the server (default: this one)")
	part := fs.Duration("hls-part", 0, "the server's -hls-part (0: its default)")
	streamFlags(fs, &sc)
	if ok, code := parseFlags(fs, args); !ok {
		return code
	}
	if *clients < 1 || *clients > 10000 || *window <= 0 {
		fmt.Fprintln(os.Stderr, "bbllive bench hls: -clients must be 1..10000 and -window positive")
		return 2
	}
	if *bin == "" {
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bbllive bench hls:", err)
			return 1
		}
		*bin = self
	}
	if _, err := bench.RaiseFileLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "bbllive bench hls: raising the open-file limit:", err)
	}
	r := hlsBench{bin: *bin, sc: sc, window: *window, warmup: *warmup}
	if *part > 0 {
		r.extra = []string{"-hls-part", part.String()}
	}
	if err := r.run(ctx, *clients); err != nil {
		fmt.Fprintln(os.Stderr, "bbllive bench hls:", err)
		return 1
	}
	return 0
}

type hlsBench struct {
	bin            string
	sc             synth.Config
	window, warmup time.Duration
	extra          []string
}

// step is one measured window: the server's CPU, as % of one core, and
// the load's counters.
type step struct {
	cpu, genCPU float64
	load        bench.HLSCounters
	latency     bench.Summary // ms behind live, every part of every client
	holdBack    time.Duration // the playlist's PART-HOLD-BACK
}

func (r *hlsBench) run(ctx context.Context, n int) error {
	base, err := r.measure(ctx, []string{"-hls=false"}, 0)
	if err != nil {
		return err
	}
	remux, err := r.measure(ctx, []string{"-hls-always"}, 0)
	if err != nil {
		return err
	}
	load, err := r.measure(ctx, []string{"-hls-always"}, n)
	if err != nil {
		return err
	}
	w := r.window.Seconds()
	fmt.Printf("LL-HLS, one %d kbit/s stream, %d clients, %s windows\n", r.sc.Bitrate/1000, n, r.window)
	fmt.Printf("%-44s %8.2f %% of a core\n", "server, no HLS:", base.cpu)
	fmt.Printf("%-44s %8.2f %% of a core\n", "server, remuxer running, no viewer:", remux.cpu)
	fmt.Printf("%-44s %8.2f %% of a core\n", "  remuxer per stream:", remux.cpu-base.cpu)
	fmt.Printf("%-44s %8.2f %% of a core\n", fmt.Sprintf("server, %d LL-HLS clients:", n), load.cpu)
	fmt.Printf("%-44s %8.2f %% of a core\n", "  per 1000 HLS viewers:", (load.cpu-remux.cpu)*1000/float64(n))
	fmt.Printf("%-44s %8.0f (playlists %.0f/s, parts %.0f/s)\n", "  requests/s:",
		float64(load.load.Requests())/w, float64(load.load.Playlists)/w, float64(load.load.Parts)/w)
	fmt.Printf("%-44s %8.2f (want about %.1f: 1 s / part target)\n", "  parts/s per client:", float64(load.load.Parts)/w/float64(n), 1/r.partTarget().Seconds())
	fmt.Printf("%-44s %8.1f Mbit/s\n", "  delivered:", float64(load.load.Bytes)*8/w/1e6)
	fmt.Printf("%-44s %8d (503: %d)\n", "  errors:", load.load.Errors, load.load.Late)
	writeHLSLatency(os.Stdout, load.latency, load.holdBack)
	fmt.Printf("%-44s %8.2f %% of a core\n", "load generator (this process):", load.genCPU)
	return nil
}

// writeHLSLatency prints how far behind live the clients got their parts,
// and what that makes of a native player's latency: it plays
// PART-HOLD-BACK behind the newest part it has, so it shows a sample at
// most that long after the part holding it arrived.
func writeHLSLatency(w io.Writer, lat bench.Summary, holdBack time.Duration) {
	if lat.N == 0 {
		fmt.Fprintf(w, "%-44s %8s (no part timed: no EXT-X-PROGRAM-DATE-TIME, or no part in the window)\n", "  part behind live:", "-")
		return
	}
	fmt.Fprintf(w, "%-44s %8.0f ms p50, %.0f p99, %.0f max (%d parts; arrival − PROGRAM-DATE-TIME − part offset)\n",
		"  part behind live:", lat.P50, lat.P99, lat.Max, lat.N)
	if holdBack > 0 {
		hb := float64(holdBack) / float64(time.Millisecond)
		fmt.Fprintf(w, "%-44s %8.0f ms p99, %.0f max (parts behind live + PART-HOLD-BACK %.0f ms)\n",
			"  a player at PART-HOLD-BACK, at most:", lat.P99+hb, lat.Max+hb, hb)
	}
}

func (r *hlsBench) partTarget() time.Duration {
	for i := 0; i+1 < len(r.extra); i++ {
		if r.extra[i] == "-hls-part" {
			d, _ := time.ParseDuration(r.extra[i+1])
			return d
		}
	}
	return 200 * time.Millisecond
}

// measure starts a server with flags, publishes the stream, starts n
// HLS clients and measures one window.
func (r *hlsBench) measure(ctx context.Context, flags []string, n int) (step, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, err := bench.StartServer(ctx, r.bin, bench.ServerConfig{Name: "hls", Flags: append(append(flags, r.extra...), "-bpf=false")})
	if err != nil {
		return step{}, err
	}
	defer srv.Stop()
	var stats bench.PublishStats
	wait, err := bench.PublishMany(ctx, "rtmp://"+srv.Addr+"/live/hls", 1, func(int) (bench.MediaSource, error) {
		s, err := synth.New(r.sc)
		if err != nil {
			return nil, err
		}
		return bench.SynthSource(s), nil
	}, &stats)
	if err != nil {
		return step{}, err
	}
	defer func() { cancel(); wait() }() // the publisher ends with ctx
	var load *bench.HLSLoad
	warm := r.warmup
	if n > 0 {
		addr := srv.HTTPAddr
		if addr == "" {
			return step{}, fmt.Errorf("bench hls: no http listener in the server's log:\n%s", srv.Log())
		}
		ramp := min(5*time.Second, time.Duration(n)*5*time.Millisecond)
		load = bench.StartHLSLoad(ctx, "http://"+addr+"/live/hls/index.m3u8", n, ramp)
		warm += ramp
	}
	select {
	case <-ctx.Done():
		return step{}, ctx.Err()
	case <-time.After(warm):
	}
	var before bench.HLSCounters
	if load != nil {
		before = load.Counters()
		load.MarkLatency()
	}
	c0, _ := bench.ProcCPU(srv.PID)
	g0, _ := bench.ProcCPU(0)
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return step{}, ctx.Err()
	case <-time.After(r.window):
	}
	c1, err := bench.ProcCPU(srv.PID)
	if err != nil {
		return step{}, err
	}
	g1, _ := bench.ProcCPU(0)
	el := time.Since(t0).Seconds()
	st := step{cpu: (c1 - c0) / el * 100, genCPU: (g1 - g0) / el * 100}
	if load != nil {
		st.load = load.Counters().Sub(before)
		st.latency, st.holdBack = load.Latency(), load.PartHoldBack()
		if e := load.LastError(); e != "" {
			fmt.Fprintln(os.Stderr, "last client error:", e)
		}
		cancel()
		load.Wait()
	}
	return st, nil
}
