package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/bbllive/bbllive/bench"
	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/relay"
	"github.com/prometheus/client_golang/prometheus"
)

// relayConfig is the cluster part of serveConfig: edge mode (-origin)
// and forwarding (-forward).
type relayConfig struct {
	origins       string
	originRefresh time.Duration
	edgeLinger    time.Duration
	originTimeout time.Duration
	forward       forwardFlag
	fwdTimeout    time.Duration
	caFile        string

	// running is the relay once serve started it (metrics, HTTP demand).
	running *relayRun
}

func (c *relayConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.origins, "origin", "", "make this server an edge of these origins (rtmp[s]://host[:port],…; a DNS name is re-resolved and each address is an origin): viewers' streams are pulled from their owning origin, publishes forwarded to it")
	durationVar(fs, &c.originRefresh, "origin-refresh", 10*time.Second, "how often -origin's DNS names are resolved again")
	durationVar(fs, &c.edgeLinger, "edge-linger", relay.DefaultLinger, "how long an edge keeps pulling a stream after its last viewer left")
	fs.Var(&c.forward, "forward", "push published streams to targets; a `RULE` is [PATTERN=]rtmp[s]://host[:port][/app/name],… ({app} and {name} are replaced; without a path /{app}/{name}); repeatable; without PATTERN every stream, else the streams whose app/name match the glob (an app alone means APP/*); a stream goes to the targets of every rule it matches, each once; in -config also a list of rules or a mapping of pattern to URLs; reloaded (SIGHUP, /api/reload) for the streams published after it")
	durationVar(fs, &c.originTimeout, "origin-timeout", relay.DefaultOriginTimeout, "an edge's limit on reaching an origin (TCP connect, RTMP handshake, play or publish); past it the stream's next origin is tried")
	durationVar(fs, &c.fwdTimeout, "forward-timeout", relay.DefaultForwardTimeout, "a -forward connection's limit on reaching its target (TCP connect, RTMP handshake, publish); past it the target is retried after the backoff")
	fs.StringVar(&c.caFile, "relay-ca", "", "PEM certificates trusted, besides the system roots, for rtmps:// origins and -forward targets")
}

// relayRun is the running edge and forwarding.
type relayRun struct {
	edge    *relay.Edge
	origins *relay.Set
	pushes  *relay.Pushes
	stop    context.CancelFunc
	done    chan struct{}
	closed  sync.Once
}

// startRelay hooks edge mode and forwarding into hub, as c asks; with
// neither it returns a relay that does nothing. Its durations were checked
// with the other flags (serveConfig.validate). Its connections dial with
// dial (socketFigures.dial, so their final figures are taken at close) and
// are numbered by nextID, from the sequence of the RTMP sessions, so that
// /api/connections lists a pull or a forward as its stream's.
func startRelay(c *relayConfig, hub *fanout.Hub, dial relay.NetDial, nextID func() uint64, log *slog.Logger) (*relayRun, error) {
	r := &relayRun{done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	tlsCfg, err := relayTLS(c.caFile)
	if err != nil {
		cancel()
		return nil, err
	}
	// Always hooked, so a reload may add rules to a server started with none.
	r.pushes = &relay.Pushes{TLSConfig: tlsCfg, Log: log, ConnectTimeout: c.fwdTimeout, NetDial: dial, NextID: nextID}
	r.pushes.SetRules(c.forward.rules)
	hub.OnPublish(r.pushes.Hook)
	if len(c.forward.rules) > 0 {
		log.Info("forwarding", "rules", forwardSummary(c.forward.rules))
	}
	if c.origins == "" {
		close(r.done)
		c.running = r
		return r, nil
	}
	entries, err := relay.ParseList(c.origins)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("-origin: %w", err)
	}
	r.origins = relay.NewSet(entries, nil)
	if _, err := r.origins.Refresh(ctx); err != nil {
		log.Warn("edge: some origins do not resolve yet; retrying every -origin-refresh", "err", err)
	}
	r.edge = &relay.Edge{Hub: hub, Origins: r.origins, Linger: c.edgeLinger, ConnectTimeout: c.originTimeout,
		TLSConfig: tlsCfg, NetDial: dial, NextID: nextID, Log: log}
	r.edge.Start()
	go r.refresh(ctx, c.originRefresh, log)
	log.Info("edge of origins", "origins", originAddrs(r.origins), "linger", c.edgeLinger)
	c.running = r
	return r, nil
}

// setForward puts rules in force for the streams published from now on
// (a reload).
func (r *relayRun) setForward(rules []relay.Rule, log *slog.Logger) {
	r.pushes.SetRules(rules)
	log.Info("reload: -forward rules in force for streams published from now on", "rules", forwardSummary(rules))
}

// forwardSummary is rules as a log may show them: patterns and target
// counts, never a URL (stream keys travel in them).
func forwardSummary(rules []relay.Rule) string {
	if len(rules) == 0 {
		return "none"
	}
	parts := make([]string, len(rules))
	for i, r := range rules {
		p := r.Pattern
		if p == "" {
			p = "every stream"
		}
		parts[i] = p + ": " + bench.Counted(len(r.Targets), "target", "targets")
	}
	return strings.Join(parts, "; ")
}

// refresh re-resolves the origin list until ctx ends.
func (r *relayRun) refresh(ctx context.Context, every time.Duration, log *slog.Logger) {
	defer close(r.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := r.origins.Refresh(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("edge: origin lookup failed; keeping the addresses it had", "err", err)
		}
		if changed {
			log.Info("edge: origins changed", "origins", originAddrs(r.origins))
		}
	}
}

func originAddrs(s *relay.Set) string {
	var addrs []string
	for _, o := range s.Origins() {
		addrs = append(addrs, o.URL)
	}
	return strings.Join(addrs, ",")
}

// close stops the refresh and every pull.
func (r *relayRun) close() {
	r.closed.Do(func() {
		r.stop()
		<-r.done
		if r.edge != nil {
			r.edge.Close()
		}
		r.pushes.Wait()
	})
}

// relayTLS is the client configuration for rtmps:// upstreams: the system
// roots, plus caFile's certificates.
func relayTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("-relay-ca: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-relay-ca %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{RootCAs: pool}, nil
}

// withEdgeDemand lets HTTP viewers of an edge start its pulls: every
// request carries its query to the hub's play wait (the token travels to
// the origin), and an HLS playlist request for a stream the edge does not
// have yet waits for the pull (up to -play-wait) before the HLS handler,
// which only remuxes live streams, answers it.
func withEdgeDemand(next http.Handler, hub *fanout.Hub, r *relayRun) http.Handler {
	if r == nil || r.edge == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req = req.WithContext(fanout.WithViewerQuery(req.Context(), req.URL.RawQuery))
		// With access control on, the HLS handler waits after admitting
		// the viewer, so a client without a credential starts no pull.
		if key, ok := hlsPlaylistKey(req.URL.Path); ok && !hub.AccessActive() && (req.Method == http.MethodGet || req.Method == http.MethodHead) {
			hub.AwaitPublisher(req.Context(), key) // a 404 is the HLS handler's to answer
		}
		next.ServeHTTP(w, req)
	})
}

// hlsPlaylistKey is the stream key of "/APP/NAME/FILE.m3u8".
func hlsPlaylistKey(path string) (string, bool) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || !strings.HasSuffix(parts[2], ".m3u8") {
		return "", false
	}
	return parts[0] + "/" + parts[1], true
}

// Describe implements prometheus.Collector.
func (r *relayRun) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(r, ch) }

var (
	edgePullsDesc    = prometheus.NewDesc("bbllive_edge_pulls", "Streams this edge pulls from an origin now.", nil, nil)
	edgeStartedDesc  = prometheus.NewDesc("bbllive_edge_pulls_started_total", "Pulls this edge started.", nil, nil)
	edgeChangesDesc  = prometheus.NewDesc("bbllive_edge_upstream_changes_total", "Pulls that moved to another origin (failover).", nil, nil)
	edgeOriginsDesc  = prometheus.NewDesc("bbllive_edge_origins", "Origins of this edge after DNS.", nil, nil)
	edgeForwardsDesc = prometheus.NewDesc("bbllive_edge_forwards", "Publishes on this edge being forwarded to their origin now.", nil, nil)
	fwdConnectsDesc  = prometheus.NewDesc("bbllive_forward_connects_total", "Connections to a -forward target that published.", []string{"target"}, nil)
	fwdFailuresDesc  = prometheus.NewDesc("bbllive_forward_failures_total", "Connections to a -forward target that failed or were lost.", []string{"target"}, nil)
	fwdBytesDesc     = prometheus.NewDesc("bbllive_forward_bytes_total", "Media payload bytes sent to a -forward target.", []string{"target"}, nil)
	fwdDropsDesc     = prometheus.NewDesc("bbllive_forward_dropped_messages_total", "Messages a -forward target missed because it fell behind or was down.", []string{"target"}, nil)
	fwdConnectedDesc = prometheus.NewDesc("bbllive_forward_connected", "Streams connected to a -forward target now.", []string{"target"}, nil)
)

// Collect implements prometheus.Collector.
func (r *relayRun) Collect(ch chan<- prometheus.Metric) {
	if e := r.edge; e != nil {
		ch <- prometheus.MustNewConstMetric(edgePullsDesc, prometheus.GaugeValue, float64(e.Stats.Pulls.Load()))
		ch <- prometheus.MustNewConstMetric(edgeStartedDesc, prometheus.CounterValue, float64(e.Stats.PullsStarted.Load()))
		ch <- prometheus.MustNewConstMetric(edgeChangesDesc, prometheus.CounterValue, float64(e.Stats.UpstreamChanges.Load()))
		ch <- prometheus.MustNewConstMetric(edgeOriginsDesc, prometheus.GaugeValue, float64(len(r.origins.Origins())))
		ch <- prometheus.MustNewConstMetric(edgeForwardsDesc, prometheus.GaugeValue, float64(e.Stats.Forwards.Load()))
	}
	for _, t := range r.pushes.Stats() {
		ch <- prometheus.MustNewConstMetric(fwdConnectsDesc, prometheus.CounterValue, float64(t.Connects), t.Target)
		ch <- prometheus.MustNewConstMetric(fwdFailuresDesc, prometheus.CounterValue, float64(t.Failures), t.Target)
		ch <- prometheus.MustNewConstMetric(fwdBytesDesc, prometheus.CounterValue, float64(t.Bytes), t.Target)
		ch <- prometheus.MustNewConstMetric(fwdDropsDesc, prometheus.CounterValue, float64(t.Drops), t.Target)
		ch <- prometheus.MustNewConstMetric(fwdConnectedDesc, prometheus.GaugeValue, float64(t.Connected), t.Target)
	}
}
