package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bbllive/bbllive/bench"
	"github.com/bbllive/bbllive/bench/flv"
	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/rtmp"
)

var benchCommands = map[string]func(ctx context.Context, args []string) int{
	"run":     benchRun,
	"play":    benchPlay,
	"publish": benchPublish,
	"synth":   benchSynth,
	"floor":   benchFloor,
	"hls":     benchHLS,
	"cluster": benchCluster,
}

// runBench is `bbllive bench …`.
func runBench(args []string) int {
	if len(args) == 0 || benchCommands[args[0]] == nil {
		if len(args) > 0 && args[0] != "help" && args[0] != "-h" && args[0] != "-help" && args[0] != "--help" {
			fmt.Fprintf(os.Stderr, "bbllive bench: unknown command %q\n\n", args[0])
		}
		fmt.Fprint(os.Stderr, `usage: bbllive bench command [flags]   ("bbllive bench command -h" lists its flags)

commands:
  run       start the server with each configuration, publish, play, measure, compare
  play      run N players against any RTMP server and report what they received
  publish   publish a synthetic stream or an FLV file in real time, in a loop
  synth     write a synthetic stream to an FLV file
  floor     the kernel's write floor as an RTMP server: one goroutine, one plain write per player per flush
  hls       what LL-HLS viewers and the HLS remuxer cost the server (N clients with blocking reloads, every part)
  cluster   origins and edges as separate processes, players over the edges: CPU and memory per tier, origin upstreams checked
`)
		if len(args) == 0 {
			return 2
		}
		if args[0] == "help" || strings.HasPrefix(args[0], "-") {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return benchCommands[args[0]](ctx, args[1:])
}

// parseFlags parses, maps -h to success and complains about arguments.
func parseFlags(fs *flag.FlagSet, args []string) (ok bool, code int) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, 0
		}
		return false, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bbllive bench %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return false, 2
	}
	return true, 0
}

// streamFlags registers the synthetic stream's flags.
func streamFlags(fs *flag.FlagSet, c *synth.Config) {
	fs.Func("bitrate", "synthetic stream bitrate, audio included (e.g. 908k, 4M)", func(s string) error {
		n, err := parseBitrate(s)
		c.Bitrate = n
		return err
	})
	c.Bitrate = synth.DefaultBitrate
	fs.IntVar(&c.FPS, "fps", synth.DefaultFPS, "synthetic video frame rate")
	fs.IntVar(&c.GOP, "gop", 2*synth.DefaultFPS, "frames from one keyframe to the next")
	fs.IntVar(&c.Width, "width", synth.DefaultWidth, "picture width")
	fs.IntVar(&c.Height, "height", synth.DefaultHeight, "picture height")
	fs.BoolVar(&c.Audio, "audio", true, "add an AAC-LC 44.1 kHz stereo track")
}

// parseBitrate reads 908000, 908k or 4M.
func parseBitrate(s string) (int, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1e6, s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bitrate %q: want a positive number, optionally with k or M", s)
	}
	return int(v * mult), nil
}

// loadFlags registers the players' flags.
func loadFlags(fs *flag.FlagSet, c *bench.LoadConfig) {
	fs.Float64Var(&c.Rate, "rate", bench.DefaultRate, "players started per second")
	fs.IntVar(&c.Concurrency, "concurrency", bench.DefaultConcurrency, "player setups in flight at once")
	fs.BoolVar(&c.Full, "full", false, "parse and check every message (a goroutine per player) instead of counting bytes in epoll loops")
	fs.IntVar(&c.Loops, "loops", 0, "epoll loops of the fast mode (0: one per CPU)")
	fs.DurationVar(&c.Coalesce, "coalesce", bench.DefaultCoalesce, "fast mode: pause of an epoll loop after a wakeup, to gather more ready sockets per wakeup (negative: none)")
	fs.IntVar(&c.RcvLowat, "rcvlowat", 0, "fast mode: SO_RCVLOWAT in bytes once a player has its first bytes, so it is read once per that many bytes (0: off for play; for run, a quarter second of the stream; negative: off)")
	fs.DurationVar(&c.SetupTimeout, "setup-timeout", bench.DefaultSetupTimeout, "time allowed for one player's dial, handshake, connect and play")
	fs.DurationVar(&c.StallAfter, "stall", bench.DefaultStallAfter, "silence after which a playing player counts a stall")
	fs.DurationVar(&c.GapAfter, "gap", bench.DefaultGapAfter, "full mode: video timestamp jump counted as a gap (streams without the synthetic frame counter)")
}

// harnessBinaries sets the binaries a harness command starts: this one
// publishes, whichever server is measured, and is the server unless
// *server names another. False: this binary could not be found (said on
// stderr).
func harnessBinaries(cmd string, server, publisher *string) bool {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bbllive bench %s: finding this binary: %v\n", cmd, err)
		return false
	}
	if *server == "" {
		*server = self
	}
	*publisher = self
	return true
}

// playerCounts reads "1000" or "250,500,1000".
func playerCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-players %q: want positive counts separated by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// configList collects repeated -config NAME=FLAGS.
type configList []bench.ServerConfig

func (c *configList) String() string { return fmt.Sprint(len(*c)) }

func (c *configList) Set(s string) error {
	sc, err := bench.ParseServerConfig(s)
	if err != nil {
		return err
	}
	*c = append(*c, sc)
	return nil
}

func benchRun(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var cfg bench.RunConfig
	var configs configList
	fs.StringVar(&cfg.ServerBin, "server-bin", "", "bbllive binary to start (default: this one)")
	preset := fs.String("preset", "", "built-in configurations: a preset name, a group (netpoll, uring, floor, servers, msg, 100ms, flv), all, or several separated by commas; default all unless -config is given. flv: RTMP, HTTP-FLV and WS-FLV players of io_uring at each flush setting, 12 configurations, ≈ 10 min with -players 1000 -window 15s -repeat 2")
	fs.Var(&configs, "config", `a configuration NAME=FLAGS for "bbllive serve", e.g. 'nodelay=-flush message', or NAME=floor FLAGS for "bbllive bench floor", or NAME=http-flv FLAGS / NAME=ws-flv FLAGS for players of HTTP-FLV / WebSocket-FLV (repeatable)`)
	list := fs.Bool("list", false, "list the presets and exit")
	players := fs.String("players", "1000", fmt.Sprintf("player counts to measure, comma-separated (each ≤ %d)", bench.MaxRunPlayers))
	fs.DurationVar(&cfg.Warmup, "warmup", 5*time.Second, "settling time after the last player is set up")
	fs.DurationVar(&cfg.Window, "window", 20*time.Second, "measurement window")
	fs.IntVar(&cfg.Publishers, "publishers", 1, "streams; players are spread over them")
	fs.IntVar(&cfg.Repeat, "repeat", 1, "rounds of everything, in alternating order; the table shows each configuration's median run and compares configurations round by round (at most 10)")
	count := fs.String("count", "auto", "how to count the server's syscalls: auto (bpf, else perf), bpf, perf, none")
	out := fs.String("out", "bench-out", "directory for results.json and results.svg (empty: none)")
	streamFlags(fs, &cfg.Stream)
	loadFlags(fs, &cfg.Load)
	if ok, code := parseFlags(fs, args); !ok {
		return code
	}
	if *list {
		for _, p := range bench.Presets {
			line := strings.Join(append(p.Command(), p.Flags...), " ")
			if p.Play != "" {
				line += " (players: " + p.Play + ")"
			}
			fmt.Printf("%-16s %s\n", p.Name, line)
		}
		return 0
	}
	var err error
	if cfg.Players, err = playerCounts(*players); err != nil {
		fmt.Fprintln(os.Stderr, "bbllive bench run:", err)
		return 2
	}
	if *preset != "" || len(configs) == 0 {
		name := *preset
		if name == "" {
			name = "all"
		}
		ps, err := bench.LookupPreset(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bbllive bench run:", err)
			return 2
		}
		configs = append(configList(ps), configs...)
	}
	cfg.Configs = configs
	cfg.Count = bench.CountMethod(*count)
	if !harnessBinaries("run", &cfg.ServerBin, &cfg.PublisherBin) {
		return 1
	}
	cfg.Progress = os.Stderr
	results, err := bench.RunBench(ctx, cfg)
	if len(results) > 0 {
		fmt.Println()
		bench.WriteTable(os.Stdout, results)
		if werr := writeOutputs(*out, bench.NewRunReport(cfg, results), results); werr != nil {
			fmt.Fprintln(os.Stderr, "bbllive bench run:", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bbllive bench run:", err)
		return 1
	}
	return 0
}

func writeOutputs(dir string, rep *bench.RunReport, results []bench.Result) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	jp, sp := filepath.Join(dir, "results.json"), filepath.Join(dir, "results.svg")
	if err := writeFile(jp, func(f *os.File) error { return rep.WriteJSON(f) }); err != nil {
		return err
	}
	medians := make([]bench.Result, 0, len(results))
	for _, s := range bench.Summarize(results) {
		medians = append(medians, s.Result)
	}
	if err := writeFile(sp, func(f *os.File) error { return bench.WriteSVG(f, medians) }); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", jp, sp)
	return nil
}

func writeFile(path string, write func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func benchPlay(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("play", flag.ContinueOnError)
	var cfg bench.LoadConfig
	fs.StringVar(&cfg.URL, "url", "", "what to play: rtmp://host:port/app/name, http://host:port/app/name.flv (HTTP-FLV) or ws://host:port/app/name.flv (WebSocket-FLV); {i} and {i%K} take the player's index (required)")
	fs.IntVar(&cfg.Players, "n", 100, "players")
	duration := fs.Duration("duration", 30*time.Second, "measurement window, after the ramp-up and warm-up")
	warmup := fs.Duration("warmup", 2*time.Second, "settling time after the last player is set up")
	jsonOut := fs.String("json", "", "also write the report, per-player figures included, to this JSON file")
	loadFlags(fs, &cfg)
	if ok, code := parseFlags(fs, args); !ok {
		return code
	}
	if cfg.URL == "" {
		fmt.Fprintln(os.Stderr, "bbllive bench play: -url is required")
		return 2
	}
	if err := bench.CheckFileLimit(cfg.Players); err != nil {
		fmt.Fprintln(os.Stderr, "bbllive bench play:", err)
		return 1
	}
	g, err := bench.StartLoad(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bbllive bench play:", err)
		return 2
	}
	phases := []struct {
		name string
		done <-chan struct{}
		d    time.Duration
	}{{"ramp", g.Ramped(), 0}, {"warmup", nil, *warmup}, {"measure", nil, *duration}}
	for i, ph := range phases {
		if i == 2 {
			g.Mark()
		}
		if !waitPhase(ctx, g, ph.name, ph.done, ph.d) {
			break
		}
		if i == 0 && allFailed(g.Progress()) {
			break // nobody to measure: report the errors now
		}
	}
	rep := g.Stop()
	fmt.Fprint(os.Stderr, "\r\033[K")
	rep.WriteText(os.Stdout)
	if *jsonOut != "" {
		if err := writeFile(*jsonOut, func(f *os.File) error { return bench.WriteLoadJSON(f, rep) }); err != nil {
			fmt.Fprintln(os.Stderr, "bbllive bench play:", err)
			return 1
		}
	}
	if rep.Played == 0 {
		return 1
	}
	return 0
}

// allFailed reports whether every player that was started has failed, so
// that warming up and measuring would only wait on nothing.
func allFailed(p bench.Progress) bool { return p.Started > 0 && p.Failed == p.Started }

// waitPhase waits for done or d with a progress line; false: interrupted.
// A phase with neither (a -warmup of 0) is over at once.
func waitPhase(ctx context.Context, g *bench.LoadGen, name string, done <-chan struct{}, d time.Duration) bool {
	if done == nil && d <= 0 {
		return ctx.Err() == nil
	}
	start := time.Now()
	var timeout <-chan time.Time
	if d > 0 {
		timeout = time.After(d)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastBytes uint64
	last := start
	for {
		select {
		case <-done:
			return true
		case <-timeout:
			return true
		case <-ctx.Done():
			return false
		case now := <-tick.C:
			p := g.Progress()
			rate := float64(p.Bytes-lastBytes) * 8 / 1e6 / now.Sub(last).Seconds()
			lastBytes, last = p.Bytes, now
			fmt.Fprintf(os.Stderr, "\r\033[K%s %.0fs  started %d  playing %d  first frame %d  failed %d  lost %d  %.0f Mbit/s",
				name, now.Sub(start).Seconds(), p.Started, p.Playing, p.FirstFrame, p.Failed, p.Lost, rate)
		}
	}
}

func benchPublish(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	var sc synth.Config
	url := fs.String("url", "", "rtmp://host:port/app/name to publish to; {i} takes the publisher's index (required)")
	n := fs.Int("n", 1, "publishers")
	file := fs.String("file", "", "FLV file to replay in a loop instead of the synthetic stream")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	streamFlags(fs, &sc)
	if ok, code := parseFlags(fs, args); !ok {
		return code
	}
	if *url == "" || *n <= 0 || *n > 1000 {
		fmt.Fprintln(os.Stderr, "bbllive bench publish: -url is required and -n must be 1..1000")
		return 2
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	newSource := func(int) (bench.MediaSource, error) {
		if *file != "" {
			return bench.OpenFLV(*file)
		}
		s, err := synth.New(sc)
		if err != nil {
			return nil, err
		}
		return bench.SynthSource(s), nil
	}
	var stats bench.PublishStats
	wait, err := bench.PublishMany(ctx, *url, *n, newSource, &stats)
	if err == nil {
		fmt.Fprintf(os.Stderr, "publishing %s to %s\n", bench.Counted(*n, "stream", "streams"), *url)
		err = wait()
	}
	fmt.Fprintf(os.Stderr, "sent %d messages, %d bytes; worst lateness %v\n",
		stats.Messages.Load(), stats.Bytes.Load(), time.Duration(stats.MaxLateNs.Load()).Round(time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bbllive bench publish:", err)
		return 1
	}
	return 0
}

func benchSynth(_ context.Context, args []string) int {
	fs := flag.NewFlagSet("synth", flag.ContinueOnError)
	var sc synth.Config
	out := fs.String("o", "synth.flv", "output FLV file")
	duration := fs.Duration("duration", 10*time.Second, "length of the stream")
	streamFlags(fs, &sc)
	if ok, code := parseFlags(fs, args); !ok {
		return code
	}
	if err := writeSynthFLV(*out, sc, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "bbllive bench synth:", err)
		return 1
	}
	return 0
}

func writeSynthFLV(path string, sc synth.Config, d time.Duration) error {
	s, err := synth.New(sc)
	if err != nil {
		return err
	}
	flags := flv.FlagVideo
	if sc.Audio {
		flags |= flv.FlagAudio
	}
	return writeFile(path, func(f *os.File) error {
		w, err := flv.NewWriter(f, flags)
		if err != nil {
			return err
		}
		for {
			m, due := s.Next()
			if due >= d {
				return nil
			}
			data := m.Payload
			if m.Type == rtmp.TypeDataAMF0 {
				data, _ = rtmp.MetadataPayload(data)
			}
			if err := w.WriteTag(&flv.Tag{Type: m.Type, Timestamp: m.Timestamp, Data: data}); err != nil {
				return err
			}
		}
	})
}
