package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
)

// RunConfig configures the benchmark harness: every configuration is run
// at every player count, one server process each.
type RunConfig struct {
	// ServerBin is the bbllive binary to start as `serve`.
	ServerBin string
	// PublisherBin is the bbllive binary to start as `bench publish` and,
	// for the floor configurations, `bench floor` (default ServerBin).
	PublisherBin string
	// Configs are the server configurations compared.
	Configs []ServerConfig
	// Players are the player counts (each ≤ MaxRunPlayers).
	Players []int
	// Repeat runs everything this many times (default 1, at most
	// MaxRepeat), in rounds whose order alternates, so that drift of a
	// shared machine falls on every configuration alike; the table then
	// shows each configuration's median run and compares configurations
	// round by round.
	Repeat int
	// Warmup runs after the last player is set up, before measuring
	// (default 5 s); Window is the measurement (default 20 s).
	Warmup, Window time.Duration
	// Stream is the synthetic stream each publisher sends.
	Stream synth.Config
	// Publishers is the number of streams (default 1); players spread over
	// them round-robin.
	Publishers int
	// Load tunes the players; its URL and Players are set per run.
	Load LoadConfig
	// Count is how system calls are counted (default "auto").
	Count CountMethod
	// Progress, if set, receives a progress line that rewrites itself.
	Progress io.Writer
}

// Bounds of one harness run: it must stay a benchmark, not a load test.
// MaxHarnessPlayers bounds a harness's players in general (the cluster's
// too); MaxRunPlayers is `bench run`'s, one process's ceiling on the
// 2 vCPU machine the figures come from (hard open-file limit 20,000),
// where the RTMP and HTTP-FLV paths are shown holding 19,000 players at a
// 350 ms flush. CheckFileLimit refuses a count the machine's own
// descriptor limit cannot hold.
const (
	MaxHarnessPlayers = 10000
	MaxRunPlayers     = 19000
	MaxWindow         = 10 * time.Minute
	MaxRepeat         = 10
)

// Result is one configuration at one player count.
type Result struct {
	Config  string   `json:"config"`
	Flags   []string `json:"flags"`
	Players int      `json:"players"`
	Round   int      `json:"round"` // 1-based, with RunConfig.Repeat
	// Server figures over the window.
	ServerCPUSeconds float64        `json:"server_cpu_s"`
	ServerCPUPercent float64        `json:"server_cpu_pct"` // of one core
	CPUPer1000       float64        `json:"server_cpu_pct_per_1000_players"`
	CPUPerGbit       float64        `json:"server_cpu_s_per_gbit"`
	Syscalls         SyscallFigures `json:"syscalls"`
	SyscallsPerSec   float64        `json:"syscalls_per_s"`
	SyscallsPerGB    float64        `json:"syscalls_per_gb"`
	RSSBytes         uint64         `json:"rss_bytes"`
	PeakRSSBytes     uint64         `json:"peak_rss_bytes"`
	BaseRSSBytes     uint64         `json:"base_rss_bytes"` // with publishers, before any player
	// Delivery as the players saw it.
	Bytes uint64      `json:"bytes_delivered"`
	Gbps  float64     `json:"gbps"`
	Load  *LoadReport `json:"players_report"`
	// GenCPUPercent is the harness's own CPU (the players), to show the
	// load generator costs less than what it loads.
	GenCPUPercent float64 `json:"loadgen_cpu_pct"`
	// PubCPUPercent is the publisher process's CPU, which on loopback
	// includes the server's receive work for the published bytes.
	PubCPUPercent float64 `json:"publisher_cpu_pct"`
	Error         string  `json:"error,omitempty"`
}

func (c *RunConfig) withDefaults() {
	if c.Warmup <= 0 {
		c.Warmup = 5 * time.Second
	}
	if c.Window <= 0 {
		c.Window = 20 * time.Second
	}
	if c.Publishers <= 0 {
		c.Publishers = 1
	}
	if c.Count == "" {
		c.Count = "auto"
	}
	if c.PublisherBin == "" {
		c.PublisherBin = c.ServerBin
	}
	if c.Repeat <= 0 {
		c.Repeat = 1
	}
}

func (c *RunConfig) validate() error {
	if c.ServerBin == "" {
		return errors.New("bench: no server binary")
	}
	if len(c.Configs) == 0 || len(c.Players) == 0 {
		return errors.New("bench: nothing to run: no configuration or no player count")
	}
	for _, n := range c.Players {
		if n <= 0 || n > MaxRunPlayers {
			return fmt.Errorf("bench: %d players: want 1..%d", n, MaxRunPlayers)
		}
	}
	if c.Window > MaxWindow || c.Warmup > MaxWindow {
		return fmt.Errorf("bench: window and warm-up are bounded by %v", MaxWindow)
	}
	if c.Repeat > MaxRepeat {
		return fmt.Errorf("bench: %d repeats: at most %d", c.Repeat, MaxRepeat)
	}
	if c.Publishers > 100 {
		return fmt.Errorf("bench: %d publishers: at most 100", c.Publishers)
	}
	return c.Stream.Validate()
}

// RunBench runs every configuration at every player count in turn, in
// cfg.Repeat rounds, and returns one Result per run. A run that fails is
// reported in its Result's Error and the others go on; the error is for
// what stops everything.
func RunBench(ctx context.Context, cfg RunConfig) ([]Result, error) {
	cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	maxPlayers := 0
	for _, n := range cfg.Players {
		maxPlayers = max(maxPlayers, n)
	}
	if err := CheckFileLimit(maxPlayers + cfg.Publishers); err != nil {
		return nil, err
	}
	var results []Result
	total := len(cfg.Configs) * len(cfg.Players) * cfg.Repeat
	for round := 1; round <= cfg.Repeat; round++ {
		for _, n := range cfg.Players {
			for _, sc := range roundOrder(cfg.Configs, round) {
				if ctx.Err() != nil {
					return results, ctx.Err()
				}
				label := fmt.Sprintf("[%d/%d %s %dp]", len(results)+1, total, sc.Name, n)
				r := runOne(ctx, &cfg, sc, n, label)
				r.Round = round
				results = append(results, r)
			}
		}
	}
	if cfg.Progress != nil {
		fmt.Fprint(cfg.Progress, "\r\033[K")
	}
	return results, nil
}

// roundOrder is the order of the configurations in a round: as given in
// odd rounds, reversed in even ones, so that no configuration always runs
// first (on a cold machine) or right after the heaviest one.
func roundOrder(configs []ServerConfig, round int) []ServerConfig {
	if round%2 == 1 {
		return configs
	}
	r := slices.Clone(configs)
	slices.Reverse(r)
	return r
}

// runOne measures one configuration at one player count.
func runOne(ctx context.Context, cfg *RunConfig, sc ServerConfig, players int, label string) Result {
	res := Result{Config: sc.Name, Flags: sc.Flags, Players: players}
	fail := func(err error) Result {
		res.Error = err.Error()
		return res
	}
	bin := cfg.ServerBin
	if sc.Floor {
		bin = cfg.PublisherBin // the floor is the harness's tool, whatever server is measured
	}
	srv, err := StartServer(ctx, bin, sc)
	if err != nil {
		return fail(err)
	}
	defer srv.Stop()

	pub, err := StartPublisherProcess(ctx, cfg.PublisherBin, "rtmp://"+srv.Addr+"/live/bench_{i}", cfg.Publishers, cfg.Stream)
	if err != nil {
		return fail(err)
	}
	defer pub.Stop()

	// The server's memory with its publishers and no players: what each
	// player adds is measured over it.
	baseRSS, _, _ := ProcMemory(srv.PID)
	res.BaseRSSBytes = baseRSS

	lc := cfg.Load
	lc.Players = players
	if lc.RcvLowat == 0 {
		lc.RcvLowat = autoRcvLowat(cfg.Stream.Bitrate)
	}
	if sc.Play != "" && sc.Play != PlayRTMP && srv.HTTPAddr == "" {
		return fail(fmt.Errorf("bench: %s plays %s but the server's HTTP address is not in its log", sc.Name, sc.Play))
	}
	lc.URL = sc.playURL(srv.Addr, srv.HTTPAddr, cfg.Publishers)
	g, err := StartLoad(ctx, lc)
	if err != nil {
		return fail(err)
	}
	defer g.Stop()
	pr := newProgress(cfg.Progress, label, g, srv.PID)
	if !pr.wait(ctx, "ramp", g.Ramped(), 0) {
		return fail(ctx.Err())
	}
	if !pr.wait(ctx, "warmup", nil, cfg.Warmup) {
		return fail(ctx.Err())
	}
	if srv.Exited() {
		return fail(fmt.Errorf("server exited:\n%s", srv.Log()))
	}
	if pub.Exited() {
		return fail(fmt.Errorf("publisher exited:\n%s", pub.Log()))
	}

	counter, note := startSyscallCount(srv.PID, cfg.Count)
	cpu0, err1 := ProcCPU(srv.PID)
	gen0, _ := ProcCPU(0)
	pub0, _ := ProcCPU(pub.PID)
	start := time.Now()
	g.Mark()
	pr.wait(ctx, "measure", nil, cfg.Window)
	cpu1, err2 := ProcCPU(srv.PID)
	gen1, _ := ProcCPU(0)
	pub1, _ := ProcCPU(pub.PID)
	elapsed := time.Since(start)
	rss, peak, _ := ProcMemory(srv.PID)
	sys, _ := counter.stop()
	if note != "" && sys.Counted {
		sys.Method += " (" + note + ")"
	}
	rep := g.Stop()
	rep.Results = nil
	res.Load = rep
	if err := errors.Join(err1, err2); err != nil {
		return fail(err)
	}
	if srv.Exited() {
		return fail(fmt.Errorf("server exited during the window:\n%s", srv.Log()))
	}
	if pub.Exited() {
		return fail(fmt.Errorf("publisher exited during the window:\n%s", pub.Log()))
	}
	res.fill(cpu1-cpu0, elapsed, rss, peak, sys)
	res.GenCPUPercent = (gen1 - gen0) / elapsed.Seconds() * 100
	res.PubCPUPercent = (pub1 - pub0) / elapsed.Seconds() * 100
	return res
}

// fill derives the per-unit figures.
func (r *Result) fill(cpu float64, window time.Duration, rss, peak uint64, sys SyscallFigures) {
	secs := window.Seconds()
	r.ServerCPUSeconds = cpu
	r.ServerCPUPercent = cpu / secs * 100
	r.CPUPer1000 = r.ServerCPUPercent / float64(r.Players) * 1000
	r.Bytes = r.Load.Bytes
	r.Gbps = float64(r.Bytes) * 8 / 1e9 / secs
	if r.Bytes > 0 {
		r.CPUPerGbit = cpu / (float64(r.Bytes) * 8 / 1e9)
	}
	r.Syscalls = sys
	if sys.Counted {
		r.SyscallsPerSec = float64(sys.Total) / secs
		if r.Bytes > 0 {
			r.SyscallsPerGB = float64(sys.Total) / (float64(r.Bytes) / 1e9)
		}
	}
	r.RSSBytes, r.PeakRSSBytes = rss, peak
}

// progress prints one line that rewrites itself each second.
type progress struct {
	w     io.Writer
	label string
	pids  []int // the servers, whose CPU it shows together
	g     *LoadGen
	last  time.Time
	bytes uint64
	cpu   float64
}

func newProgress(w io.Writer, label string, g *LoadGen, pids ...int) *progress {
	cpu, _ := totalCPU(pids)
	return &progress{w: w, label: label, pids: pids, g: g, last: time.Now(), cpu: cpu}
}

// wait waits for done (if set) or d, printing progress; false means ctx
// ended first.
func (p *progress) wait(ctx context.Context, phase string, done <-chan struct{}, d time.Duration) bool {
	if done == nil && d <= 0 {
		return ctx.Err() == nil // a phase of no length (a -warmup of 0)
	}
	start := time.Now()
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return true
		case <-timeout:
			return true
		case <-ctx.Done():
			return false
		case <-tick.C:
			p.print(phase, time.Since(start), d)
		}
	}
}

func (p *progress) print(phase string, elapsed, total time.Duration) {
	if p.w == nil {
		return
	}
	now := time.Now()
	pr := p.g.Progress()
	cpu, _ := totalCPU(p.pids)
	dt := now.Sub(p.last).Seconds()
	rate := float64(pr.Bytes-p.bytes) * 8 / 1e6 / dt
	cpuPct := (cpu - p.cpu) / dt * 100
	p.last, p.bytes, p.cpu = now, pr.Bytes, cpu
	var when strings.Builder
	fmt.Fprintf(&when, "%s %.0fs", phase, elapsed.Seconds())
	if total > 0 {
		fmt.Fprintf(&when, "/%.0fs", total.Seconds())
	}
	what := "server"
	if len(p.pids) > 1 {
		what = "servers"
	}
	fmt.Fprintf(p.w, "\r\033[K%s %s  playing %d/%d  failed %d  %.0f Mbit/s  %s %.0f%% cpu",
		p.label, when.String(), pr.Playing, len(p.g.players), pr.Failed+pr.Lost, rate, what, cpuPct)
}

// autoRcvLowat reads a fast-mode player once per quarter second of the
// stream rather than once per server write: on loopback the generator's
// receive work is charged to the generator, and without this it cost about
// as much CPU as the server it measures. A quarter second stays well under
// the stall threshold.
func autoRcvLowat(bitrate int) int {
	if bitrate <= 0 {
		return 0
	}
	return min(max(bitrate/8/4, 4096), 256<<10)
}
