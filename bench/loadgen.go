package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// LoadConfig configures the player load generator.
type LoadConfig struct {
	// URL is what players play: rtmp://host/app/name, or
	// http://host/app/name.flv (HTTP-FLV) or ws://host/app/name.flv
	// (WebSocket-FLV); "{i}" and "{i%K}" in it are replaced by the
	// player's index (see ExpandName).
	URL string
	// URLs, when set, replaces URL to spread players over several servers:
	// player i plays URLs[i%len(URLs)], with {i} standing for i/len(URLs),
	// its index among that URL's players — so "…/bench_{i%K}" on every URL
	// gives each server players of all K streams.
	URLs []string
	// Players is how many players to run.
	Players int
	// Rate is how many players start per second (default 500).
	Rate float64
	// Concurrency bounds the setups (dial, handshake, connect, play) in
	// flight at once (default 128).
	Concurrency int
	// Full parses every chunk and checks every message (a goroutine per
	// player); the default fast mode only counts bytes in epoll loops.
	Full bool
	// Loops is the number of fast-mode epoll loops (default: one per CPU).
	Loops int
	// Coalesce is how long a fast-mode loop pauses after a wakeup that
	// did not fill its event batch (default 2 ms; negative: never), trading
	// that much timing resolution for far fewer wakeups.
	Coalesce time.Duration
	// RcvLowat, when positive, sets SO_RCVLOWAT on a fast-mode socket once
	// its first bytes arrived: the kernel then reports it readable only
	// when that much is queued, so a player costs one receive per that many
	// bytes instead of one per server write. Keep it under what a player
	// gets in a stall interval (a 1 Mbit/s stream brings 125 KB a second).
	RcvLowat int
	// SetupTimeout bounds one player's setup (default 10 s).
	SetupTimeout time.Duration
	// StallAfter is the silence after which a playing player counts a
	// stall (default 1 s).
	StallAfter time.Duration
	// GapAfter is the video timestamp jump that counts as a gap in full
	// mode when the stream carries no synthetic frame counter (default 1 s).
	GapAfter time.Duration
}

// Defaults of LoadConfig.
const (
	DefaultRate         = 500
	DefaultConcurrency  = 128
	DefaultSetupTimeout = 10 * time.Second
	DefaultCoalesce     = 2 * time.Millisecond
	DefaultStallAfter   = time.Second
	DefaultGapAfter     = time.Second
	// MaxPlayers bounds one run; every load must be bounded.
	MaxPlayers = 20000
)

func (c *LoadConfig) withDefaults() {
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Loops <= 0 {
		c.Loops = runtime.NumCPU()
	}
	if c.Coalesce == 0 {
		c.Coalesce = DefaultCoalesce
	}
	if c.SetupTimeout <= 0 {
		c.SetupTimeout = DefaultSetupTimeout
	}
	if c.StallAfter <= 0 {
		c.StallAfter = DefaultStallAfter
	}
	if c.GapAfter <= 0 {
		c.GapAfter = DefaultGapAfter
	}
}

// patterns are the URL patterns players play: URLs, or URL alone.
func (c *LoadConfig) patterns() []string {
	if len(c.URLs) > 0 {
		return c.URLs
	}
	return []string{c.URL}
}

// playerURL is player i's URL; the patterns were checked by StartLoad.
func (c *LoadConfig) playerURL(i int) string {
	ps := c.patterns()
	u, _ := ExpandName(ps[i%len(ps)], i/len(ps))
	return u
}

// Player states.
const (
	statePending int32 = iota
	stateSetup
	statePlaying
	stateLost   // was playing, connection lost
	stateFailed // setup failed
)

// player is one simulated player. Fields below "owner" are written only by
// the goroutine that owns the player's socket (its epoll loop or, in full
// mode, its reader goroutine) and read by Stop after that owner stopped.
type player struct {
	idx     int
	url     string
	start   time.Duration // since the generator's epoch
	connect time.Duration
	state   atomic.Int32
	ttff    atomic.Int64  // ns from start to the first frame; 0: none yet
	bytes   atomic.Uint64 // chunk-stream bytes received
	mark    uint64        // bytes at the window's start

	// owner
	fd       int
	window   uint32
	acked    uint64
	last     time.Duration
	stalls   int
	maxGap   time.Duration
	err      error
	checker  *checker
	sess     *session
	stallDur time.Duration
	lowat    bool // SO_RCVLOWAT set (fast mode, owned by its loop)
}

// received records n bytes arriving at now.
func (p *player) received(now time.Duration, n uint64) {
	p.arrived(now)
	p.bytes.Add(n)
}

// arrived notes data at now: the first frame, or the end of a silence that
// may have been a stall.
func (p *player) arrived(now time.Duration) {
	if p.ttff.Load() == 0 {
		p.ttff.Store(int64(max(now-p.start, 1)))
	} else {
		gap := now - p.last
		p.maxGap = max(p.maxGap, gap)
		if gap > p.stallDur {
			p.stalls++
		}
	}
	p.last = now
}

// lost records the end of a playing connection.
func (p *player) lost(err error) {
	if p.err == nil {
		p.err = err
	}
	p.state.Store(stateLost)
}

// LoadGen runs players against a server. Start it with StartLoad; it runs
// until Stop.
type LoadGen struct {
	cfg      LoadConfig
	epoch    time.Time
	players  []*player
	loops    []*loop
	ctx      context.Context
	cancel   context.CancelFunc
	ramp     sync.WaitGroup // the dispatcher and the setups
	readers  sync.WaitGroup // full-mode goroutines
	ramped   chan struct{}
	stopping atomic.Bool
	markAt   time.Time
	stopOnce sync.Once
	report   *LoadReport
}

// StartLoad validates cfg and starts ramping players up in the background.
func StartLoad(ctx context.Context, cfg LoadConfig) (*LoadGen, error) {
	cfg.withDefaults()
	if cfg.Players <= 0 || cfg.Players > MaxPlayers {
		return nil, fmt.Errorf("bench: %d players: want 1..%d", cfg.Players, MaxPlayers)
	}
	for _, u := range cfg.patterns() {
		if _, err := ExpandName(u, 0); err != nil {
			return nil, err
		}
		if cfg.Full && IsHTTPURL(u) {
			return nil, errors.New("bench: full mode parses RTMP; HTTP-FLV and WebSocket-FLV players run in the fast mode")
		}
	}
	g := &LoadGen{cfg: cfg, epoch: time.Now(), players: make([]*player, cfg.Players), ramped: make(chan struct{})}
	for i := range g.players {
		g.players[i] = &player{idx: i, url: cfg.playerURL(i), fd: -1, stallDur: cfg.StallAfter}
	}
	if !cfg.Full {
		for range cfg.Loops {
			l, err := newLoop(g)
			if err != nil {
				g.closeLoops()
				return nil, err
			}
			g.loops = append(g.loops, l)
			go l.run()
		}
	}
	g.ctx, g.cancel = context.WithCancel(ctx)
	g.ramp.Add(1)
	go g.dispatch()
	go func() { g.ramp.Wait(); close(g.ramped) }()
	return g, nil
}

func (g *LoadGen) now() time.Duration { return time.Since(g.epoch) }

// Ramped is closed once every player's setup has finished, in success or
// failure.
func (g *LoadGen) Ramped() <-chan struct{} { return g.ramped }

// dispatch starts players at cfg.Rate, at most cfg.Concurrency setups at
// a time.
func (g *LoadGen) dispatch() {
	defer g.ramp.Done()
	sem := make(chan struct{}, g.cfg.Concurrency)
	start := time.Now()
	for i, p := range g.players {
		due := start.Add(time.Duration(float64(i) / g.cfg.Rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-g.ctx.Done():
				return
			}
		}
		select {
		case sem <- struct{}{}:
		case <-g.ctx.Done():
			return
		}
		g.ramp.Add(1)
		go func() {
			defer func() { <-sem; g.ramp.Done() }()
			g.setup(p)
		}()
	}
}

// setup runs one player's blocking setup, then hands its socket to an
// epoll loop (fast) or a reader goroutine (full).
func (g *LoadGen) setup(p *player) {
	p.start = g.now()
	p.state.Store(stateSetup)
	if g.cfg.Full {
		p.checker = newChecker(g.cfg.GapAfter)
	}
	s, err := startSession(g.ctx, p.url, g.cfg.SetupTimeout, p.checker)
	if err != nil {
		p.err = err
		p.state.Store(stateFailed)
		return
	}
	p.connect = s.connected
	p.window = s.window
	p.acked = s.acked
	p.bytes.Store(s.received())
	if !s.firstMedia.IsZero() {
		p.ttff.Store(int64(max(s.firstMedia.Sub(g.epoch)-p.start, 1)))
		p.last = s.firstMedia.Sub(g.epoch)
	}
	if g.cfg.Full {
		p.sess = s
		p.state.Store(statePlaying)
		g.readers.Add(1)
		go g.readFull(p)
		return
	}
	if err := g.handOff(p, s); err != nil {
		p.err = &setupError{"handoff", err}
		p.state.Store(stateFailed)
	}
}

// handOff moves a session's socket from Go's poller to an epoll loop: the
// descriptor is duplicated (it shares the non-blocking file description)
// and the net.Conn closed, which takes the original out of Go's epoll.
func (g *LoadGen) handOff(p *player, s *session) error {
	tc, ok := s.conn.Conn.(*net.TCPConn)
	if !ok {
		return errors.New("not a TCP connection")
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	cerr := rc.Control(func(raw uintptr) {
		fd, err = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 0)
	})
	if cerr != nil {
		return cerr
	}
	if err != nil {
		return err
	}
	tc.Close()
	p.fd = fd
	p.state.Store(statePlaying)
	if err := g.loops[p.idx%len(g.loops)].add(p); err != nil {
		unix.Close(fd)
		p.fd = -1
		return err
	}
	return nil
}

// readFull is a full-mode player: parse every message and check it.
func (g *LoadGen) readFull(p *player) {
	defer g.readers.Done()
	s := p.sess
	for {
		m, err := s.read()
		if err != nil {
			if !g.stopping.Load() {
				p.lost(err)
			}
			return
		}
		if isMedia(m.Type) {
			p.arrived(g.now())
		}
		p.bytes.Store(s.received())
	}
}

// Mark starts the measurement window: per-player rates and the report's
// bytes count from here. Without a Mark the window starts at StartLoad.
func (g *LoadGen) Mark() {
	g.markAt = time.Now()
	for _, p := range g.players {
		p.mark = p.bytes.Load()
	}
}

// Progress is a snapshot of a running generator.
type Progress struct {
	Started, Playing, Failed, Lost, FirstFrame int
	Bytes                                      uint64
}

// Progress counts players by state and sums their bytes.
func (g *LoadGen) Progress() Progress {
	var pr Progress
	for _, p := range g.players {
		switch p.state.Load() {
		case statePending:
			continue
		case statePlaying:
			pr.Playing++
		case stateFailed:
			pr.Failed++
		case stateLost:
			pr.Lost++
		}
		pr.Started++
		if p.ttff.Load() != 0 {
			pr.FirstFrame++
		}
		pr.Bytes += p.bytes.Load()
	}
	return pr
}

// Stop ends the run: no more players start, every connection closes, and
// the report covers the window from Mark (or the start) to now. Calling it
// again returns the same report.
func (g *LoadGen) Stop() *LoadReport {
	g.stopOnce.Do(func() {
		end := time.Now()
		now := g.now()
		g.stopping.Store(true)
		// Setups in flight see the cancellation as an expired deadline
		// and end at once; only then are the owners of sockets stopped,
		// so that no setup hands a socket to a loop or reader that is gone.
		g.cancel()
		g.ramp.Wait()
		g.closeLoops()
		for _, p := range g.players {
			if p.sess != nil {
				p.sess.conn.Close()
			}
		}
		g.readers.Wait()
		start := g.markAt
		if start.IsZero() {
			start = g.epoch
		}
		g.report = g.collect(end.Sub(start), now)
		for _, p := range g.players {
			if p.fd >= 0 {
				unix.Close(p.fd)
				p.fd = -1
			}
		}
	})
	return g.report
}

func (g *LoadGen) closeLoops() {
	for _, l := range g.loops {
		l.close()
	}
}

// collect turns the players' state into results.
func (g *LoadGen) collect(window, now time.Duration) *LoadReport {
	results := make([]PlayerResult, len(g.players))
	for i, p := range g.players {
		r := PlayerResult{Index: i, URL: p.url, TTFFMs: -1, Stalls: p.stalls, MaxGapMs: ms(p.maxGap)}
		st := p.state.Load()
		r.Started = st != statePending
		if st == statePlaying || st == stateLost {
			r.Played = true
			r.ConnectMs = ms(p.connect)
			r.Bytes = p.bytes.Load() - p.mark
			if t := p.ttff.Load(); t != 0 {
				r.TTFFMs = ms(time.Duration(t))
				if st == statePlaying && now-p.last > p.stallDur {
					r.Stalls++ // silent until the end: a stall still going on
				}
			}
		}
		r.Disconnected = st == stateLost
		if p.err != nil {
			r.Error = Reason(p.err)
		}
		if p.checker != nil {
			r.Violations = p.checker.violations
		}
		results[i] = r
	}
	mode := "fast"
	if g.cfg.Full {
		mode = "full"
	}
	return Report(mode, results, window)
}
