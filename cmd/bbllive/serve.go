package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/access"
	"github.com/bbllive/bbllive/rtmp"
)

// serveConfig is everything `bbllive serve` takes; every field but the
// callbacks at the end has a flag and the same name in the optional YAML
// config file.
type serveConfig struct {
	listen           string
	flush            string
	flushInterval    time.Duration
	chunkSize        uint
	lagWindow        int
	maxCache         int
	slowTimeout      time.Duration
	publishGrace     time.Duration
	playWait         time.Duration
	publisherTimeout time.Duration
	publishTakeover  bool
	workers          int
	handshakeTimeout time.Duration
	idleTimeout      time.Duration
	maxMessageSize   uint
	maxChunkSize     uint
	logLevel         string
	logFormat        string
	statsInterval    time.Duration
	io               string
	uringSend        string
	uringRegistered  int
	httpAddr         string
	headerTimeout    time.Duration
	perConnMetrics   bool
	bpf              bool
	configFile       string
	access           accessSettings // access.go
	media            mediaConfig    // HTTP-FLV and WebSocket-FLV playback (media.go)
	hls              hlsConfig      // HLS and LL-HLS (hls.go)
	relay            relayConfig    // edge mode and forwarding (relay.go)
	tls              tlsConfig      // the RTMPS listener (tls.go)

	// args, when set, is the command line the settings came from: a
	// reload parses it again (reload.go), and flagValues is every flag's
	// value then. levelVar, when set, is the logger's level, which a
	// reload changes.
	args       []string
	flagValues map[string]string
	levelVar   *slog.LevelVar

	// onHTTP, when set, receives the bound HTTP address (tests listen on
	// port 0).
	onHTTP func(net.Addr)
	// onAPI, when set, receives the bound -api address.
	onAPI func(net.Addr)
}

func serveFlags(c *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", ":1935", "RTMP listen address")
	fs.StringVar(&c.flush, "flush", "interval", "when players are written to")
	durationVar(fs, &c.flushInterval, "flush-interval", fanout.DefaultFlushInterval, "batching window of -flush interval")
	fs.UintVar(&c.chunkSize, "chunk-size", rtmp.DefaultServerChunkSize, "outbound RTMP chunk size")
	fs.IntVar(&c.lagWindow, "lag-window", fanout.DefaultLagWindow, "bytes a player may fall behind before it skips to the newest keyframe")
	fs.IntVar(&c.maxCache, "max-cache", fanout.DefaultMaxCache, "most bytes a stream keeps, GOP cache included")
	durationVar(fs, &c.slowTimeout, "slow-timeout", fanout.DefaultSlowTimeout, "disconnect a player that has not caught up for this long")
	durationVar(fs, &c.publishGrace, "publish-grace", fanout.DefaultPublishGrace, "how long a stream keeps its players waiting for its publisher to (re)appear")
	durationVar(fs, &c.playWait, "play-wait", fanout.DefaultPlayWait, "how long a player of a name nobody publishes waits before NetStream.Play.StreamNotFound")
	durationVar(fs, &c.publisherTimeout, "publisher-timeout", fanout.DefaultPublisherTimeout, "close a publisher that sends no media for this long, freeing its name")
	fs.BoolVar(&c.publishTakeover, "publish-takeover", false, "a new publisher of a live name replaces the current one if it sends the same query (token, key) or, sending none, comes from the same IP address; else it is refused")
	fs.IntVar(&c.workers, "workers", 0, "sender workers (netpoll) or rings (io_uring)")
	fs.StringVar(&c.io, "io", "auto", "player and publisher I/O")
	fs.StringVar(&c.uringSend, "uring-send", "writev", "io_uring write operation")
	fs.IntVar(&c.uringRegistered, "uring-registered", fanout.DefaultRegisteredBytes, "bytes of wire-log memory registered with io_uring for write_fixed and send_zc")
	durationVar(fs, &c.handshakeTimeout, "handshake-timeout", 10*time.Second, "time allowed for the RTMP handshake")
	durationVar(fs, &c.idleTimeout, "idle-timeout", 30*time.Second, "close a non-playing connection silent for this long")
	fs.UintVar(&c.maxMessageSize, "max-message-size", uint(rtmp.DefaultLimits.MaxMessageSize), "largest RTMP message accepted, bytes")
	fs.UintVar(&c.maxChunkSize, "max-chunk-size", uint(rtmp.DefaultLimits.MaxChunkSize), "largest chunk size a peer may set, bytes")
	fs.StringVar(&c.logLevel, "log-level", "info", "least severe level logged")
	fs.StringVar(&c.logFormat, "log-format", "text", "format of the log lines (log/slog)")
	durationVar(fs, &c.statsInterval, "stats-interval", 10*time.Second, "period of the per-stream stats line")
	fs.StringVar(&c.httpAddr, "http", ":8080", "HTTP listen address: the start page, HTTP-FLV, WebSocket-FLV, fMP4 and HLS playback, /metrics, the JSON API (/api/streams, /api/connections) and /healthz, /readyz; empty: off")
	durationVar(fs, &c.headerTimeout, "http-header-timeout", DefaultHeaderTimeout, "time an HTTP client has to send a request's headers, on every HTTP listener; then 408 and a close")
	fs.BoolVar(&c.perConnMetrics, "metrics.per-conn", false, "also export per-connection series on /metrics (one set per connection: mind the cardinality)")
	fs.BoolVar(&c.bpf, "bpf", true, "count each socket's bytes, RTT and retransmits in the kernel with eBPF (needs root; off by itself where unavailable)")
	mediaFlags(fs, &c.media)
	c.hls.register(fs)
	fs.StringVar(&c.configFile, "config", "", "optional YAML file whose keys are these flag names; flags given on the command line win")
	c.access.register(fs)
	c.relay.register(fs)
	c.tls.register(fs)
	describeAllowed(fs)
	return fs
}

func runServe(args []string) int {
	c, err := parseServeArgs(args)
	if err != nil {
		return serveArgsFailed(os.Stderr, err)
	}
	log, level, err := newLogger(c.logLevel, c.logFormat)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bbllive:", err)
		return 2
	}
	c.levelVar = level
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, c, log, nil); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	return 0
}

// serve runs the server until ctx ends. ready, when set, receives the
// bound RTMP address (tests listen on port 0).
func serve(ctx context.Context, c *serveConfig, log *slog.Logger, ready func(addr net.Addr)) error {
	if err := c.validate(); err != nil {
		return err
	}
	policy, err := fanout.ParseFlushPolicy(c.flush)
	if err != nil {
		return err
	}
	cfg := fanout.Config{
		Flush: policy, FlushInterval: c.flushInterval,
		LagWindow: c.lagWindow, MaxCache: c.maxCache, SlowTimeout: c.slowTimeout,
		PublishGrace: c.publishGrace, Workers: c.workers,
		PlayWait: c.playWait, PublisherTimeout: c.publisherTimeout,
	}
	if c.publishTakeover {
		cfg.Takeover = fanout.SameCredentialsTakeover
	}
	transport, err := newTransport(c, cfg, log)
	if err != nil {
		return err
	}
	hub := fanout.NewHub(cfg, transport, log)
	gate, err := access.New(c.access.config(), log)
	if err != nil {
		hub.Close()
		return err
	}
	defer gate.Close()
	hub.SetGate(gate)
	logAccess(log, "access control", &c.access)
	srv := &rtmp.Server{
		Handler: hub, Logger: log, ChunkSize: uint32(c.chunkSize),
		HandshakeTimeout: c.handshakeTimeout, IdleTimeout: c.idleTimeout,
		Limits: rtmp.Limits{MaxChunkSize: uint32(c.maxChunkSize), MaxMessageSize: uint32(c.maxMessageSize),
			MaxChunkStreams: rtmp.DefaultLimits.MaxChunkStreams},
	}
	// Before any listener or relay dials, so every connection's figures
	// are read.
	fig := startFigures(c.bpf, log)
	defer fig.close()
	rel, err := startRelay(&c.relay, hub, fig.dial, srv.NextID, log)
	if err != nil {
		hub.Close()
		return err
	}
	defer rel.close()
	media, err := startMedia(c, hub, srv, fig, log)
	if err != nil {
		hub.Close()
		return err
	}
	defer media.close()
	ctl := newControl(c, srv, hub, gate, transport.Name(), log)
	defer ctl.watchSIGHUP()() // from here on SIGHUP reloads rather than kills
	obs, err := startObservability(c, srv, hub, ctl, fig, log)
	if err != nil {
		hub.Close()
		return err
	}
	defer obs.close()
	ln, err := fig.listen(c.listen)
	if err != nil {
		hub.Close()
		return fmt.Errorf("-listen %s: %w", c.listen, err) // named as every listener's open error is
	}
	stopTLS, err := startTLS(&c.tls, srv, fig, log)
	if err != nil {
		ln.Close()
		hub.Close()
		return err
	}
	defer stopTLS()
	eff := hub.Config()
	log.Info("bbllive listening", "rtmp", ln.Addr().String(), "transport", transport.Name(),
		"flush", eff.Flush.String(), "flush_interval", eff.FlushInterval, "chunk_size", srv.ChunkSize, "version", versionString())
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ctl.ready.Store(true)

	var tick <-chan time.Time
	if c.statsInterval > 0 {
		t := time.NewTicker(c.statsInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			hub.LogStats()
			continue
		case err = <-errc:
		case <-ctx.Done():
			ctl.ready.Store(false)
			log.Info("shutting down", "sessions", srv.SessionCount())
		}
		break
	}
	srv.Close()
	rel.close() // pulls and forwards end before the hub they feed from
	hub.Close()
	if errors.Is(err, rtmp.ErrServerClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// newLogger builds the server's logger; its level is a LevelVar so that a
// reload can change it.
func newLogger(level, format string) (*slog.Logger, *slog.LevelVar, error) {
	lv := new(slog.LevelVar)
	if err := setLogLevel(lv, level); err != nil {
		return nil, nil, err
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: readableDurations}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), lv, nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), lv, nil
	}
	return nil, nil, fmt.Errorf("-log-format %q: want text or json", format)
}

// setLogLevel sets lv from a -log-level value.
func setLogLevel(lv *slog.LevelVar, level string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	lv.Set(l)
	return nil
}

// newTransport builds the player transport -io asks for; auto falls back
// from io_uring to netpoll with one log line naming why.
func newTransport(c *serveConfig, cfg fanout.Config, log *slog.Logger) (fanout.Transport, error) {
	switch c.io {
	case "netpoll":
		return fanout.NewNetpoll(cfg), nil
	case "uring", "auto":
		mode, err := fanout.ParseSendMode(c.uringSend)
		if err != nil {
			return nil, fmt.Errorf("-uring-send: %w", err)
		}
		t, err := fanout.NewUring(cfg, fanout.UringOptions{Mode: mode, RegisteredBytes: c.uringRegistered, Logger: log, IdleTimeout: c.idleTimeout})
		if err == nil {
			return t, nil
		}
		if c.io == "uring" {
			return nil, fmt.Errorf("-io uring: %w", err)
		}
		log.Warn("io_uring unavailable; using netpoll", "reason", err.Error())
		return fanout.NewNetpoll(cfg), nil
	}
	return nil, fmt.Errorf("-io %q: want auto, uring or netpoll", c.io)
}
