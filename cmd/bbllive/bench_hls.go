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
	startTimeout := fs.Duration("start-timeout", hlsStartTimeout, "time allowed, after the clients' ramp, for every client's first part; the window starts only then")
	streamFlags(fs, &sc)
	if ok, code := parseFlags(fs, args); !ok {
		return code
	}
	if *clients < 1 || *clients > 10000 || *window <= 0 || *startTimeout <= 0 {
		fmt.Fprintln(os.Stderr, "bbllive bench hls: -clients must be 1..10000, -window and -start-timeout positive")
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
	r := hlsBench{bin: *bin, sc: sc, window: *window, warmup: *warmup, startTimeout: *startTimeout}
	if *part > 0 {
		r.extra = []string{"-hls-part", part.String()}
	}
	if err := r.run(ctx, os.Stdout, *clients); err != nil {
		fmt.Fprintln(os.Stderr, "bbllive bench hls:", err)
		return 1
	}
	return 0
}

// hlsStartTimeout is -start-timeout's default, the bound on the wait for
// every client's first part: an idle
// remuxer's first playlist takes 2–4 s, so this leaves ample room and still
// ends a run whose clients get nothing.
const hlsStartTimeout = 10 * time.Second

type hlsBench struct {
	bin            string
	sc             synth.Config
	window, warmup time.Duration
	startTimeout   time.Duration // for every client's first part
	extra          []string
}

// step is one measured window: the server's CPU, as % of one core, and
// the load's counters.
type step struct {
	cpu, genCPU float64
	load        bench.HLSCounters
	latency     bench.Summary // ms behind live, every part of every client
	holdBack    time.Duration // the playlist's PART-HOLD-BACK
	lastErr     string        // the clients' last failure, "" if none
}

func (r *hlsBench) run(ctx context.Context, w io.Writer, n int) error {
	measure := r.measure
	base, err := measure(ctx, []string{"-hls=false"}, 0)
	if err != nil {
		return err
	}
	remux, err := measure(ctx, []string{"-hls-always"}, 0)
	if err != nil {
		return err
	}
	load, err := measure(ctx, []string{"-hls-always"}, n)
	if err != nil {
		return err
	}
	if err := checkHLSLoad(load, r.window); err != nil {
		return err
	}
	writeHLSReport(w, hlsReport{stream: r.sc, clients: n, window: r.window, partTarget: r.partTarget(), base: base, remux: remux, load: load})
	return nil
}

// checkHLSLoad refuses a window in which the clients received no part:
// its figures would be those of a server with no viewer.
func checkHLSLoad(load step, window time.Duration) error {
	if load.load.Parts > 0 {
		return nil
	}
	last := load.lastErr
	if last == "" {
		last = "none"
	}
	return fmt.Errorf("no client received a part in the %s window (%d playlists, %d failed requests, %d of them 503; last error: %s)",
		window, load.load.Playlists, load.load.Errors, load.load.Late, last)
}

// hlsReport is what bench hls prints.
type hlsReport struct {
	stream            synth.Config
	clients           int
	window            time.Duration
	partTarget        time.Duration
	base, remux, load step
}

// writeHLSReport prints the three steps and what each adds over the one
// before.
func writeHLSReport(w io.Writer, r hlsReport) {
	n, secs := float64(r.clients), r.window.Seconds()
	l := r.load.load
	fmt.Fprintf(w, "LL-HLS, one %d kbit/s stream, %d clients, %s windows\n", r.stream.Bitrate/1000, r.clients, r.window)
	fmt.Fprintf(w, "%-44s %8.2f %% of a core\n", "server, no HLS:", r.base.cpu)
	fmt.Fprintf(w, "%-44s %8.2f %% of a core\n", "server, remuxer running, no viewer:", r.remux.cpu)
	fmt.Fprintf(w, "%-44s %s\n", "  remuxer per stream:", extraCPU(r.remux.cpu, r.base.cpu, 1))
	fmt.Fprintf(w, "%-44s %8.2f %% of a core\n", fmt.Sprintf("server, %d LL-HLS clients:", r.clients), r.load.cpu)
	fmt.Fprintf(w, "%-44s %s\n", "  per 1000 HLS viewers:", extraCPU(r.load.cpu, r.remux.cpu, 1000/n))
	fmt.Fprintf(w, "%-44s %8.0f (playlists %.0f/s, parts %.0f/s)\n", "  requests/s:",
		float64(l.Requests())/secs, float64(l.Playlists)/secs, float64(l.Parts)/secs)
	perClient, want := float64(l.Parts)/secs/n, 1/r.partTarget.Seconds()
	fmt.Fprintf(w, "%-44s %8.2f (want about %.1f: 1 s / part target)\n", "  parts/s per client:", perClient, want)
	if perClient < want/2 {
		fmt.Fprintf(w, "  WARNING: the clients got under half the parts the part target makes: the figures are not those of %d clients keeping up\n", r.clients)
	}
	fmt.Fprintf(w, "%-44s %8.1f Mbit/s\n", "  delivered:", float64(l.Bytes)*8/secs/1e6)
	fmt.Fprintf(w, "%-44s %8d (503: %d)\n", "  errors:", l.Errors, l.Late)
	writeHLSLatency(w, r.load.latency, r.load.holdBack)
	fmt.Fprintf(w, "%-44s %8.2f %% of a core\n", "load generator (this process):", r.load.genCPU)
}

// extraCPU is what the step with more work cost over the one without,
// times scale, in % of a core. Each step is its own server and window, so
// when the extra work is smaller than their difference in everything else
// the subtraction goes below zero; that is printed as not resolved, never
// as a negative cost.
func extraCPU(with, without, scale float64) string {
	d := (with - without) * scale
	if d < 0 {
		return fmt.Sprintf("%8s (not resolved: %.2f %% of a core with it, %.2f without; lengthen -window)", "-", with, without)
	}
	return fmt.Sprintf("%8.2f %% of a core", d)
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
	start := time.Now()
	warm := r.warmup
	if n > 0 {
		addr := srv.HTTPAddr
		if addr == "" {
			return step{}, fmt.Errorf("bench hls: no http listener in the server's log:\n%s", srv.Log())
		}
		ramp := min(5*time.Second, time.Duration(n)*5*time.Millisecond)
		load = bench.StartHLSLoad(ctx, "http://"+addr+"/live/hls/index.m3u8", n, ramp)
		warm += ramp
		// The window starts once every client has had its first part, so
		// it never measures clients still waiting for their first playlist.
		if err := load.WaitStarted(ctx, ramp+r.startTimeout); err != nil {
			return step{}, fmt.Errorf("bench hls: %w", err)
		}
	}
	select {
	case <-ctx.Done():
		return step{}, ctx.Err()
	case <-time.After(warm - time.Since(start)):
	}
	var before bench.HLSCounters
	if load != nil {
		before = load.Counters()
		load.MarkLatency()
	}
	c0, err := bench.ProcCPU(srv.PID)
	if err != nil {
		return step{}, err
	}
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
		st.lastErr = load.LastError()
		if st.lastErr != "" {
			fmt.Fprintln(os.Stderr, "last client error:", st.lastErr)
		}
		cancel()
		load.Wait()
	}
	return st, nil
}
