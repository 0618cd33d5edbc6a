package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
)

// ClusterConfig configures RunCluster: origin and edge servers on this
// machine, each its own process, synthetic streams published into the
// cluster and players spread round-robin over the edges.
type ClusterConfig struct {
	// ServerBin is the bbllive binary started as `serve` for every server.
	ServerBin string
	// PublisherBin is the bbllive binary started as `bench publish`
	// (default ServerBin).
	PublisherBin string
	// Origins and Edges are how many servers each tier has (default 2
	// and 2; at most MaxClusterOrigins and MaxClusterEdges). Every edge
	// runs with -origin listing every origin.
	Origins, Edges int
	// OriginFlags and EdgeFlags are given to every server of the tier,
	// after the harness's own (-listen, -http, and an edge's -origin,
	// which they may not set).
	OriginFlags, EdgeFlags []string
	// Streams is the number of synthetic streams (default 1), each its
	// own publisher process, named live/bench_0 … .
	Streams int
	// PublishTo is where the streams are published: PublishToEdge (the
	// default: stream s to edge s mod Edges, as an encoder behind a
	// balancer would, the edge forwarding it to its owning origin) or
	// PublishToOrigin (straight to the stream's owning origin).
	PublishTo string
	// Play is how the players play from the edges: PlayRTMP (default),
	// PlayHTTPFLV or PlayWSFLV.
	Play string
	// Players is how many players (at most MaxHarnessPlayers); player i
	// plays from edge i mod Edges, stream (i / Edges) mod Streams, so
	// every edge has players of every stream once there are
	// Edges × Streams players.
	Players int
	// Warmup runs after the last player is set up (default 5 s); Window
	// is the measurement (default 20 s).
	Warmup, Window time.Duration
	// Stream is the synthetic stream each publisher sends.
	Stream synth.Config
	// Load tunes the players; their URLs and number are set by the run.
	Load LoadConfig
	// Single also measures the same streams and players on one server
	// run with EdgeFlags, after the cluster, for comparison.
	Single bool
	// Progress, if set, receives a progress line that rewrites itself.
	Progress io.Writer
}

// Where ClusterConfig.PublishTo publishes.
const (
	PublishToEdge   = "edge"
	PublishToOrigin = "origin"
)

// Defaults and bounds of a cluster run: it runs on one machine, so it
// stays a benchmark of a few processes.
const (
	DefaultClusterOrigins = 2
	DefaultClusterEdges   = 2
	MaxClusterOrigins     = 4
	MaxClusterEdges       = 8
	MaxClusterStreams     = 16
)

// ownerWait bounds the wait, before any player starts, for every stream
// to have a keyframe on its owning origin: two GOPs and some slack, at
// least 10 s.
func ownerWait(sc synth.Config) time.Duration {
	sc = streamWithDefaults(sc)
	gop := time.Duration(float64(sc.GOP) / float64(max(sc.FPS, 1)) * float64(time.Second))
	return max(10*time.Second, 2*gop+5*time.Second)
}

func (c *ClusterConfig) withDefaults() {
	if c.PublisherBin == "" {
		c.PublisherBin = c.ServerBin
	}
	if c.Origins == 0 {
		c.Origins = DefaultClusterOrigins
	}
	if c.Edges == 0 {
		c.Edges = DefaultClusterEdges
	}
	if c.Streams == 0 {
		c.Streams = 1
	}
	if c.PublishTo == "" {
		c.PublishTo = PublishToEdge
	}
	if c.Play == "" {
		c.Play = PlayRTMP
	}
	if c.Warmup <= 0 {
		c.Warmup = 5 * time.Second
	}
	if c.Window <= 0 {
		c.Window = 20 * time.Second
	}
}

// Validate checks the configuration as given: counts within their
// bounds, known modes, flags that leave the wiring to the harness.
func (c *ClusterConfig) Validate() error {
	if c.ServerBin == "" {
		return errors.New("bench: no server binary")
	}
	for _, b := range []struct {
		what   string
		n, max int
	}{{"origins", c.Origins, MaxClusterOrigins}, {"edges", c.Edges, MaxClusterEdges},
		{"streams", c.Streams, MaxClusterStreams}, {"players", c.Players, MaxHarnessPlayers}} {
		if b.n < 1 || b.n > b.max {
			return fmt.Errorf("bench: %d %s: want 1..%d", b.n, b.what, b.max)
		}
	}
	if c.PublishTo != PublishToEdge && c.PublishTo != PublishToOrigin {
		return fmt.Errorf("bench: publish to %q: want %s or %s", c.PublishTo, PublishToEdge, PublishToOrigin)
	}
	if c.Play != PlayRTMP && c.Play != PlayHTTPFLV && c.Play != PlayWSFLV {
		return fmt.Errorf("bench: play %q: want %s, %s or %s", c.Play, PlayRTMP, PlayHTTPFLV, PlayWSFLV)
	}
	if c.Window <= 0 || c.Window > MaxWindow || c.Warmup < 0 || c.Warmup > MaxWindow {
		return fmt.Errorf("bench: window %v, warm-up %v: want a positive window, both at most %v", c.Window, c.Warmup, MaxWindow)
	}
	for _, flags := range [][]string{c.OriginFlags, c.EdgeFlags} {
		for _, f := range flags {
			if name := flagName(f); name == "origin" || name == "listen" || name == "http" {
				return fmt.Errorf("bench: the harness sets -%s of every server (loopback, free ports, the edges' origins): leave it out of the tier's flags", name)
			}
		}
	}
	return c.Stream.Validate()
}

// flagName is the name of a command-line flag ("-origin=x" → "origin"),
// "" for a value.
func flagName(arg string) string {
	if !strings.HasPrefix(arg, "-") {
		return ""
	}
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return name
}

// ClusterResult is one cluster run: every server's figures, the tiers'
// totals, what the players received and whether the edges' upstreams are
// the ones rendezvous hashing says.
type ClusterResult struct {
	RunInfo
	Origins     int      `json:"origins"`
	Edges       int      `json:"edges"`
	Streams     int      `json:"streams"`
	Players     int      `json:"players"`
	PublishTo   string   `json:"publish_to"`
	Play        string   `json:"play"`
	OriginFlags []string `json:"origin_flags"`
	EdgeFlags   []string `json:"edge_flags"`
	// Servers are the origins, then the edges.
	Servers    []TierServer  `json:"servers"`
	OriginTier TierFigures   `json:"origin_tier"`
	EdgeTier   TierFigures   `json:"edge_tier"`
	Upstreams  UpstreamCheck `json:"upstreams"`
	// OwnersReadyMs is how long after its publisher was accepted the last
	// stream had a keyframe on its owning origin; the players start then
	// (an edge's forward of a publish brings the keyframe it began with).
	OwnersReadyMs float64 `json:"owners_ready_ms"`
	// Delivery as the players saw it.
	Bytes uint64      `json:"bytes_delivered"`
	Gbps  float64     `json:"gbps"`
	Load  *LoadReport `json:"players_report"`
	// GenCPUPercent is the harness's own CPU (the players); PubCPUPercent
	// the publisher processes' together.
	GenCPUPercent float64 `json:"loadgen_cpu_pct"`
	PubCPUPercent float64 `json:"publisher_cpu_pct"`
	// Single is the same load on one server, with ClusterConfig.Single.
	Single *Result `json:"single_server,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// The tiers of TierServer.Tier.
const (
	TierOrigin = "origin"
	TierEdge   = "edge"
)

// TierServer is one server of the cluster over the window.
type TierServer struct {
	Tier         string  `json:"tier"`
	Index        int     `json:"index"` // 1-based within its tier
	Addr         string  `json:"addr"`
	HTTPAddr     string  `json:"http_addr"`
	CPUSeconds   float64 `json:"cpu_s"`
	CPUPercent   float64 `json:"cpu_pct"` // of one core
	RSSBytes     uint64  `json:"rss_bytes"`
	PeakRSSBytes uint64  `json:"peak_rss_bytes"`
	// From the server's /metrics at the end of the window: its players
	// (on an origin, the edges' pulls) and publishers (on an origin, those
	// published or forwarded to it), per stream.
	Players       int            `json:"players"`
	Publishers    int            `json:"publishers"`
	StreamPlayers map[string]int `json:"stream_players"`
	StreamLive    map[string]int `json:"stream_live"`
	// Of an edge: the streams it pulls and the publishes it forwards.
	EdgePulls    int `json:"edge_pulls"`
	EdgeForwards int `json:"edge_forwards"`
}

// Name is how the tables call the server: "origin 1", "edge 2".
func (s *TierServer) Name() string { return s.Tier + " " + strconv.Itoa(s.Index) }

// TierFigures add up one tier.
type TierFigures struct {
	Servers    int     `json:"servers"`
	CPUPercent float64 `json:"cpu_pct"` // of one core, all servers together
	// CPUPer1000 is CPUPercent per 1000 players of the cluster.
	CPUPer1000 float64 `json:"cpu_pct_per_1000_players"`
	RSSBytes   uint64  `json:"rss_bytes"`
}

// RunCluster starts the origins and the edges, publishes, plays from the
// edges, measures every server over the window and checks the upstreams;
// with cfg.Single it measures the same load on one server afterwards. A
// run that fails is reported in the result's Error; the error is for a
// configuration that cannot run at all.
func RunCluster(ctx context.Context, cfg ClusterConfig) (*ClusterResult, error) {
	cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Players, the publishers, and every edge's upstream per stream.
	if err := CheckFileLimit(cfg.Players + cfg.Streams*(cfg.Edges+1)); err != nil {
		return nil, err
	}
	res := &ClusterResult{
		RunInfo: newRunInfo(cfg.Stream, cfg.Warmup, cfg.Window),
		Origins: cfg.Origins, Edges: cfg.Edges, Streams: cfg.Streams, Players: cfg.Players,
		PublishTo: cfg.PublishTo, Play: cfg.Play, OriginFlags: cfg.OriginFlags, EdgeFlags: cfg.EdgeFlags,
	}
	if err := runCluster(ctx, &cfg, res); err != nil {
		res.Error = err.Error()
	}
	if cfg.Single && ctx.Err() == nil {
		rc := RunConfig{ServerBin: cfg.ServerBin, PublisherBin: cfg.PublisherBin, Warmup: cfg.Warmup, Window: cfg.Window,
			Stream: cfg.Stream, Publishers: cfg.Streams, Load: cfg.Load, Count: "none", Progress: cfg.Progress}
		sc := ServerConfig{Name: "single", Flags: cfg.EdgeFlags, Play: cfg.Play}
		single := runOne(ctx, &rc, sc, cfg.Players, fmt.Sprintf("[single server %dp]", cfg.Players))
		res.Single = &single
	}
	if cfg.Progress != nil {
		fmt.Fprint(cfg.Progress, "\r\033[K")
	}
	return res, nil
}

// cluster is the running servers and publishers of one run.
type cluster struct {
	cfg     *ClusterConfig
	plan    clusterPlan
	origins []*ServerProcess
	edges   []*ServerProcess
	pubs    []*PublisherProcess
	// ownersReady is how long after the publishers were accepted every
	// owner had a keyframe of its streams.
	ownersReady time.Duration
}

// stop ends the publishers, then the edges, then the origins, each
// tier's processes at once.
func (c *cluster) stop() {
	var pubs []*child
	for _, p := range c.pubs {
		pubs = append(pubs, p.child)
	}
	stopAll(pubs)
	stopAll(serverChildren(c.edges))
	stopAll(serverChildren(c.origins))
}

func serverChildren(ss []*ServerProcess) []*child {
	out := make([]*child, len(ss))
	for i, s := range ss {
		out[i] = s.child
	}
	return out
}

// stopAll stops every child and waits for them all.
func stopAll(cs []*child) {
	done := make(chan struct{}, len(cs))
	for _, c := range cs {
		go func() { c.Stop(); done <- struct{}{} }()
	}
	for range cs {
		<-done
	}
}

// start brings the cluster up: the origins, the edges of all of them,
// then one publisher per stream, and waits until every stream has a
// keyframe on its owning origin.
func (c *cluster) start(ctx context.Context) error {
	var originURLs, originAddrs []string
	for i := range c.cfg.Origins {
		s, err := StartServer(ctx, c.cfg.ServerBin, ServerConfig{Name: fmt.Sprintf("origin %d", i+1), Flags: c.cfg.OriginFlags})
		if err != nil {
			return fmt.Errorf("origin %d: %w", i+1, err)
		}
		c.origins = append(c.origins, s)
		originURLs = append(originURLs, "rtmp://"+s.Addr)
		originAddrs = append(originAddrs, s.Addr)
	}
	edgeFlags := append([]string{"-origin", strings.Join(originURLs, ",")}, c.cfg.EdgeFlags...)
	for i := range c.cfg.Edges {
		s, err := StartServer(ctx, c.cfg.ServerBin, ServerConfig{Name: fmt.Sprintf("edge %d", i+1), Flags: edgeFlags})
		if err != nil {
			return fmt.Errorf("edge %d: %w", i+1, err)
		}
		c.edges = append(c.edges, s)
	}
	for _, s := range slices.Concat(c.origins, c.edges) {
		if s.HTTPAddr == "" {
			return fmt.Errorf("bench: no -http address in the server's log, and the upstreams are read from its /metrics:\n%s", s.Log())
		}
	}
	c.plan = newClusterPlan(c.cfg, originAddrs)
	for s := range c.cfg.Streams {
		addr := c.plan.owner[s]
		if c.cfg.PublishTo == PublishToEdge {
			addr = c.edges[c.plan.pubEdge[s]].Addr
		}
		p, err := StartPublisherProcess(ctx, c.cfg.PublisherBin, "rtmp://"+addr+"/"+c.plan.keys[s], 1, c.cfg.Stream)
		if err != nil {
			return fmt.Errorf("publisher of %s: %w", c.plan.keys[s], err)
		}
		c.pubs = append(c.pubs, p)
	}
	var err error
	c.ownersReady, err = c.awaitOwners(ctx)
	return err
}

// awaitOwners waits until every stream is live on its owning origin with
// a keyframe in its GOP cache, so that players join the cluster as they
// would a running one: not racing the edge's forward of the publish to
// the origin, and not counting the stream's start as stalls. It returns
// how long that took.
func (c *cluster) awaitOwners(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	limit := ownerWait(c.cfg.Stream)
	for {
		missing, err := c.streamsNotReady(ctx)
		if err == nil && len(missing) == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > limit || ctx.Err() != nil {
			if err == nil {
				err = fmt.Errorf("no keyframe on their owning origins after %v: %s", limit, strings.Join(missing, ", "))
			}
			return 0, errors.Join(ctx.Err(), fmt.Errorf("bench: streams: %w", err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// streamsNotReady names the streams whose owner has no keyframe of them
// yet (a GOP cache of 0 bytes), or does not have them at all.
func (c *cluster) streamsNotReady(ctx context.Context) ([]string, error) {
	var missing []string
	for i, key := range c.plan.keys {
		o := c.origins[slices.Index(c.plan.originAddrs, c.plan.owner[i])]
		m, err := ScrapeMetrics(ctx, o.HTTPAddr)
		if err != nil {
			return nil, err
		}
		if m.ByLabel("bbllive_stream_live", "stream")[key] != 1 || m.ByLabel("bbllive_stream_gop_cache_bytes", "stream")[key] <= 0 {
			missing = append(missing, key+" on "+o.Addr)
		}
	}
	return missing, nil
}

// exited names the first process of the cluster that is gone, with its
// log.
func (c *cluster) exited() error {
	for i, s := range c.origins {
		if s.Exited() {
			return fmt.Errorf("origin %d exited:\n%s", i+1, s.Log())
		}
	}
	for i, s := range c.edges {
		if s.Exited() {
			return fmt.Errorf("edge %d exited:\n%s", i+1, s.Log())
		}
	}
	for i, p := range c.pubs {
		if p.Exited() {
			return fmt.Errorf("publisher of %s exited:\n%s", c.plan.keys[i], p.Log())
		}
	}
	return nil
}

// pids are the servers', origins first, then the publishers'.
func (c *cluster) pids() (servers, pubs []int) {
	for _, s := range slices.Concat(c.origins, c.edges) {
		servers = append(servers, s.PID)
	}
	for _, p := range c.pubs {
		pubs = append(pubs, p.PID)
	}
	return servers, pubs
}

// runCluster is one cluster run, its processes stopped when it returns.
func runCluster(ctx context.Context, cfg *ClusterConfig, res *ClusterResult) error {
	c := &cluster{cfg: cfg}
	defer c.stop()
	err := c.start(ctx)
	res.OwnersReadyMs = ms(c.ownersReady)
	if err != nil {
		return err
	}
	lc := cfg.Load
	lc.Players = cfg.Players
	if lc.RcvLowat == 0 {
		lc.RcvLowat = autoRcvLowat(cfg.Stream.Bitrate)
	}
	sc := ServerConfig{Play: cfg.Play}
	lc.URL, lc.URLs = "", nil
	for _, e := range c.edges {
		lc.URLs = append(lc.URLs, sc.playURL(e.Addr, e.HTTPAddr, cfg.Streams))
	}
	g, err := StartLoad(ctx, lc)
	if err != nil {
		return err
	}
	defer g.Stop()
	serverPIDs, pubPIDs := c.pids()
	label := fmt.Sprintf("[cluster %s %s %dp]", Counted(cfg.Origins, "origin", "origins"), Counted(cfg.Edges, "edge", "edges"), cfg.Players)
	pr := newProgress(cfg.Progress, label, g, serverPIDs...)
	if !pr.wait(ctx, "ramp", g.Ramped(), 0) || !pr.wait(ctx, "warmup", nil, cfg.Warmup) {
		return ctx.Err()
	}
	if err := c.exited(); err != nil {
		return err
	}

	cpu0, err0 := cpuOf(serverPIDs)
	pub0, _ := totalCPU(pubPIDs)
	gen0, _ := ProcCPU(0)
	start := time.Now()
	g.Mark()
	if !pr.wait(ctx, "measure", nil, cfg.Window) {
		return ctx.Err()
	}
	cpu1, err1 := cpuOf(serverPIDs)
	pub1, _ := totalCPU(pubPIDs)
	gen1, _ := ProcCPU(0)
	elapsed := time.Since(start)
	if err := errors.Join(err0, err1); err != nil {
		return err
	}
	// The scrape comes after the CPU figures (it costs the servers some)
	// and before the players leave.
	servers, err := c.figures(ctx, cpu0, cpu1, elapsed)
	rep := g.Stop()
	rep.Results = nil
	res.Load = rep
	if err != nil {
		return err
	}
	if err := c.exited(); err != nil {
		return fmt.Errorf("during the window: %w", err)
	}
	res.Servers = servers
	res.fill(elapsed)
	res.GenCPUPercent = (gen1 - gen0) / elapsed.Seconds() * 100
	res.PubCPUPercent = (pub1 - pub0) / elapsed.Seconds() * 100
	res.Upstreams = c.plan.check(servers)
	return nil
}

// cpuOf is the CPU time, in seconds, of each process.
func cpuOf(pids []int) ([]float64, error) {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		var err error
		if out[i], err = ProcCPU(pid); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// figures are every server's CPU over the window, memory and, from its
// /metrics, players, publishers and pulls.
func (c *cluster) figures(ctx context.Context, cpu0, cpu1 []float64, window time.Duration) ([]TierServer, error) {
	var out []TierServer
	for i, s := range slices.Concat(c.origins, c.edges) {
		ts := TierServer{Tier: TierOrigin, Index: i + 1, Addr: s.Addr, HTTPAddr: s.HTTPAddr}
		if i >= len(c.origins) {
			ts.Tier, ts.Index = TierEdge, i-len(c.origins)+1
		}
		ts.CPUSeconds = cpu1[i] - cpu0[i]
		ts.CPUPercent = ts.CPUSeconds / window.Seconds() * 100
		ts.RSSBytes, ts.PeakRSSBytes, _ = ProcMemory(s.PID)
		m, err := ScrapeMetrics(ctx, s.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ts.Name(), err)
		}
		ts.Players = int(m.Value("bbllive_players"))
		ts.Publishers = int(m.Value("bbllive_publishers"))
		ts.StreamPlayers = intValues(m.ByLabel("bbllive_stream_players", "stream"))
		ts.StreamLive = intValues(m.ByLabel("bbllive_stream_live", "stream"))
		ts.EdgePulls = int(m.Value("bbllive_edge_pulls"))
		ts.EdgeForwards = int(m.Value("bbllive_edge_forwards"))
		out = append(out, ts)
	}
	return out, nil
}

func intValues(m map[string]float64) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = int(v)
	}
	return out
}

// fill adds up the tiers and the delivery.
func (r *ClusterResult) fill(window time.Duration) {
	for _, s := range r.Servers {
		t := &r.OriginTier
		if s.Tier == TierEdge {
			t = &r.EdgeTier
		}
		t.Servers++
		t.CPUPercent += s.CPUPercent
		t.RSSBytes += s.RSSBytes
	}
	for _, t := range []*TierFigures{&r.OriginTier, &r.EdgeTier} {
		t.CPUPer1000 = t.CPUPercent / float64(r.Players) * 1000
	}
	r.Bytes = r.Load.Bytes
	r.Gbps = float64(r.Bytes) * 8 / 1e9 / window.Seconds()
}
