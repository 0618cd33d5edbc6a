package relay

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/rtmp"
)

// DefaultLinger is how long an edge keeps pulling a stream after its last
// viewer left, so a player that reconnects at once finds it warm.
const DefaultLinger = 10 * time.Second

// Edge makes a hub an edge of Origins: the first viewer of a stream (any
// protocol: the hub's Demand hears of all of them) starts one Puller from
// the stream's owning origin, which every viewer on this edge shares, and
// the pull stops Linger after the last one left. A publish that arrives
// here is forwarded to the stream's owning origin (the next one of its
// ranking when that one fails) and served here too.
type Edge struct {
	Hub     *fanout.Hub
	Origins *Set
	// Linger is how long a pull outlives its last viewer (DefaultLinger).
	Linger time.Duration
	// ConnectTimeout bounds each connection to an origin, pull or
	// forward, up to its play or publish (DefaultOriginTimeout); past it
	// the next origin of the stream's ranking is tried.
	ConnectTimeout time.Duration
	// TLSConfig is used for rtmps:// origins.
	TLSConfig *tls.Config
	// NetDial, when set, dials the TCP connections to the origins, pulls
	// and forwards alike.
	NetDial NetDial
	// NextID, when set, numbers those connections from the sequence of
	// the server's connection ids, for the hub's listing.
	NextID func() uint64
	// Log receives a line per pull and upstream change.
	Log *slog.Logger

	// Stats are the edge's running counters.
	Stats EdgeStats

	mu     sync.Mutex
	closed bool // by Close: no more pulls
	pulls  map[string]*pull
	ending background // forwards of ended publishes saying goodbye
}

// EdgeStats count an edge's pulls and publishes forwarded upstream.
type EdgeStats struct {
	Pulls            atomic.Int64  // running now
	PullsStarted     atomic.Uint64 // since start
	UpstreamChanges  atomic.Uint64 // pulls that moved to another origin
	Forwards         atomic.Int64  // publishes being forwarded now
	ForwardConnects  atomic.Uint64
	ForwardFailures  atomic.Uint64
	ForwardedBytes   atomic.Uint64
	ForwardedDropped atomic.Uint64
}

// pull is one stream wanted on this edge, with the viewers that want it.
// It pulls from the origin unless the stream is published here; when such
// a local publisher leaves while viewers remain, the pull starts again.
type pull struct {
	key, query string // query: a viewer's, passed upstream
	refs       int
	linger     *time.Timer
	run        *pullRun // the latest run, nil before the first
	running    bool     // run is meant to be pulling (not stopped for a local publisher)
}

// pullRun is one Puller's run for a pull; a run starts only after the one
// before it ended, so a stream never has two.
type pullRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Start hooks e into its hub: viewers' demand and local publishes. Call it
// before serving.
func (e *Edge) Start() {
	if e.Linger <= 0 {
		e.Linger = DefaultLinger
	}
	if e.ConnectTimeout <= 0 {
		e.ConnectTimeout = DefaultOriginTimeout
	}
	e.pulls = map[string]*pull{}
	e.Hub.SetDemand(e)
	e.Hub.OnPublish(e.forwardPublish)
}

// Want implements fanout.Demand: it starts the stream's pull at its first
// viewer and holds it until release. A stream published on this edge is
// not pulled while it is, but its viewers are counted, so that the pull
// starts when the local publisher leaves.
func (e *Edge) Want(key, query string) (release func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return func() {}
	}
	p := e.pulls[key]
	if p == nil {
		p = &pull{key: key}
		e.pulls[key] = p
	}
	if query != "" {
		// The newest viewer's token for the next run: the first want
		// may be a tap's (no query), and tokens expire.
		p.query = query
	}
	p.refs++
	if p.linger != nil {
		p.linger.Stop()
		p.linger = nil
	}
	if !p.running && !e.publishedHere(key) {
		e.startRun(p)
	}
	var once sync.Once
	return func() { once.Do(func() { e.release(p) }) }
}

// publishedHere reports whether a client of this edge publishes key.
func (e *Edge) publishedHere(key string) bool {
	st := e.Hub.Stream(key)
	return st != nil && st.PublishedLocally()
}

// release drops one viewer of p; the last one arms the linger.
func (e *Edge) release(p *pull) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p.refs--; p.refs > 0 || e.pulls[p.key] != p {
		return
	}
	p.linger = time.AfterFunc(e.Linger, func() {
		e.mu.Lock()
		if p.refs > 0 || e.pulls[p.key] != p {
			e.mu.Unlock()
			return
		}
		delete(e.pulls, p.key)
		run, wasRunning := p.run, p.running
		p.running = false
		e.mu.Unlock()
		if run != nil {
			run.cancel()
			<-run.done
		}
		if wasRunning {
			e.logf("edge: pull stopped, no viewers", "stream", p.key, "linger", e.Linger)
		}
	})
}

// localPublish stops key's pull, if any: a stream published here is
// served from here, and pulling it too would only loop the edge's own
// forward back. Its viewers stay counted.
func (e *Edge) localPublish(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.pulls[key]; p != nil && p.running {
		p.running = false
		p.run.cancel()
		e.logf("edge: pull yields to a local publisher", "stream", key)
	}
}

// localEnded starts key's pull again if viewers remain after its local
// publisher left: they keep their connections, as through a publisher's
// reconnect, and get the origin's stream.
func (e *Edge) localEnded(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.pulls[key]; p != nil && p.refs > 0 && !p.running && !e.publishedHere(key) {
		e.logf("edge: local publisher left, pulling again", "stream", key, "viewers", p.refs)
		e.startRun(p)
	}
}

// startRun runs a Puller for p into a Source of the hub, once the run
// before it ended. Called with e.mu held.
func (e *Edge) startRun(p *pull) {
	ctx, cancel := context.WithCancel(context.Background())
	prev := p.run
	run := &pullRun{cancel: cancel, done: make(chan struct{})}
	p.run, p.running = run, true
	sink := &sourceSink{hub: e.Hub, key: p.key, cancel: cancel, edge: e}
	puller := &Puller{Key: p.key, Query: p.query, Origins: e.Origins, Sink: sink, TLSConfig: e.TLSConfig, NetDial: e.NetDial, Log: e.Log,
		ConnectTimeout: e.ConnectTimeout, Connected: sink.upstream}
	e.Stats.Pulls.Add(1)
	e.Stats.PullsStarted.Add(1)
	e.logf("edge: pull started", "stream", p.key)
	go func() {
		defer close(run.done)
		defer e.Stats.Pulls.Add(-1)
		if prev != nil {
			<-prev.done
		}
		puller.Run(ctx)
		sink.close()
	}()
}

// Pulling returns the keys of the streams being pulled now, sorted.
func (e *Edge) Pulling() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	keys := make([]string, 0, len(e.pulls))
	for k, p := range e.pulls {
		if p.running {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Close stops every pull and waits for the forwards of ended publishes.
func (e *Edge) Close() {
	defer e.ending.Wait()
	e.mu.Lock()
	pulls := e.pulls
	e.pulls = map[string]*pull{}
	e.closed = true
	e.mu.Unlock()
	for _, p := range pulls {
		if p.linger != nil {
			p.linger.Stop()
		}
		if p.run != nil {
			p.run.cancel()
			<-p.run.done
		}
	}
}

func (e *Edge) logf(msg string, args ...any) {
	if e.Log != nil {
		e.Log.Info(msg, args...)
	}
}

// sourceSink is a pull's way into the hub: each upstream the puller
// reaches is a new publisher of the same Source, so the players stay and
// resume at its first keyframe.
type sourceSink struct {
	hub    *fanout.Hub
	key    string
	edge   *Edge
	cancel context.CancelFunc
	src    *fanout.Source
	ups    int
}

// upstream runs on the puller's goroutine as it starts playing from o on
// conn, which becomes the stream's ingest: listed as its pull, its
// socket's kernel figures counted as a publisher's would be.
func (s *sourceSink) upstream(o Origin, conn net.Conn) {
	if s.ups++; s.ups > 1 {
		s.edge.Stats.UpstreamChanges.Add(1)
	}
	up := link(RolePull, o.URL, conn, s.edge.NextID)
	var err error
	if s.src == nil {
		s.src, err = s.hub.PublishSource(s.key, &up)
	} else {
		err = s.src.Restart(&up)
	}
	if err != nil {
		// Someone publishes the name here: it is served from here, and
		// pulling it too would only loop it back.
		s.edge.logf("edge: pull not needed", "stream", s.key, "err", err)
		s.src = nil
		s.cancel()
	}
}

// WriteMessage implements Sink.
func (s *sourceSink) WriteMessage(m *rtmp.Message) error {
	if s.src == nil {
		return nil // the pull is being cancelled
	}
	err := s.src.WriteMessage(m)
	if err != nil {
		s.cancel()
	}
	return err
}

// Unpublished implements Unpublisher: the origin's publisher stopped, so
// the edge's players hear it at once, as the origin's do.
func (s *sourceSink) Unpublished() {
	if s.src != nil {
		s.src.Unpublish()
	}
}

func (s *sourceSink) close() {
	if s.src != nil {
		s.src.Close()
	}
}

// forwardPublish is the edge's publish hook: a stream published here goes
// to its owning origin too, moving down the ranking when one fails.
func (e *Edge) forwardPublish(st *fanout.Stream, query string) (stop func(clean bool)) {
	key := st.Key()
	e.localPublish(key)
	path := key
	if query != "" {
		path += "?" + query
	}
	f := &Forwarder{Stream: key, TLSConfig: e.TLSConfig, Log: e.Log, ConnectTimeout: e.ConnectTimeout, DeadAfter: DefaultDeadAfter,
		NetDial: e.NetDial, AddLink: st.AddLink, NextID: e.NextID,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second,
		Next: func(failed string) string { return nextOrigin(e.Origins.Rank(key), path, failed) }}
	e.Stats.Forwards.Add(1)
	f.Start()
	untap := st.AddTap(&forwardTap{f})
	return func(clean bool) {
		untap() // first: the forward's own tap is no viewer for localEnded
		// In the background: a hook must not block, and a goodbye waits
		// for the origin (up to about a second).
		e.ending.Go(func() {
			f.stopFor(clean)
			// Only now: a pull started while the origin still had this
			// edge's forward would get the edge's own stream back.
			e.localEnded(key)
			e.Stats.Forwards.Add(-1)
			e.Stats.ForwardConnects.Add(f.Stats.Connects.Load())
			e.Stats.ForwardFailures.Add(f.Stats.Failures.Load())
			e.Stats.ForwardedBytes.Add(f.Stats.Bytes.Load())
			e.Stats.ForwardedDropped.Add(f.Stats.Dropped.Load())
		})
	}
}

// nextOrigin is the URL of path on the first origin of ranked, the one
// that just failed (failed, a URL it returned before) moved last.
func nextOrigin(ranked []Origin, path, failed string) string {
	urls := make([]string, len(ranked))
	for i, o := range ranked {
		urls[i] = o.URL + "/" + path
	}
	if i := slices.Index(urls, failed); i >= 0 {
		urls = append(append(urls[:i:i], urls[i+1:]...), failed)
	}
	if len(urls) == 0 {
		return ""
	}
	return urls[0]
}

// forwardTap feeds a Forwarder from a stream's tap (a pointer: taps are
// compared when removed).
type forwardTap struct{ f *Forwarder }

// TapMessage implements fanout.Tap; Forwarder.WriteMessage never blocks.
func (t *forwardTap) TapMessage(m *rtmp.Message) { t.f.WriteMessage(m) }
