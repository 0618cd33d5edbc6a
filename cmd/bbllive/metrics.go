package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bbllive/bbllive/bpf"
	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/hls"
	"github.com/bbllive/bbllive/rtmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// newRegistry builds the registry behind /metrics: the Go runtime and the
// process, the sessions, the hub and its transport, and the kernel's
// per-stream socket figures (from figures: eBPF or TCP_INFO). Every label on
// it is bounded by the number of streams; per-connection series live on a
// registry of their own.
func newRegistry(srv *rtmp.Server, sm *sessionMetrics, hub *fanout.Hub, figures bpf.Source) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		sm,
		newConnStates(srv),
		fanout.NewCollector(hub),
		bpf.NewCollector(figures, hub.StreamConns),
	)
	return reg
}

// sessionMetrics counts how RTMP sessions end. The rtmp package is
// standard-library only, so it reports through rtmp.Server.OnSessionEnd and
// the counters live here.
type sessionMetrics struct {
	ended         *prometheus.CounterVec
	handshakeErrs *prometheus.CounterVec
	commandErrs   *prometheus.CounterVec

	mu      sync.Mutex
	reasons map[string]bool // reason tokens seen, to cap label values
}

// maxReasons caps distinct reason label values. The tokens are constants of
// the rtmp package, so the cap only guards against a future token built
// from input.
const maxReasons = 64

// normalEnds are the reasons a session ends with when nobody did anything
// wrong (as far as the protocol can tell).
var normalEnds = map[string]bool{"closed": true, "eof": true, "unexpected_eof": true, "io": true,
	"timeout": true, "shutdown": true, "idle_timeout": true}

func newSessionMetrics() *sessionMetrics {
	return &sessionMetrics{
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbllive_sessions_ended_total",
			Help: "RTMP sessions that ended, by their role at the end and the reason they ended with."}, []string{"role", "reason"}),
		handshakeErrs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbllive_handshake_errors_total",
			Help: "Connections that ended before completing the RTMP handshake, by reason."}, []string{"reason"}),
		commandErrs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbllive_command_errors_total",
			Help: "Sessions ended by a protocol error or a refused request after the handshake, by reason."}, []string{"reason"}),
		reasons: map[string]bool{},
	}
}

// Describe implements prometheus.Collector.
func (m *sessionMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.ended.Describe(ch)
	m.handshakeErrs.Describe(ch)
	m.commandErrs.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *sessionMetrics) Collect(ch chan<- prometheus.Metric) {
	m.ended.Collect(ch)
	m.handshakeErrs.Collect(ch)
	m.commandErrs.Collect(ch)
}

// sessionEnded is the rtmp.Server.OnSessionEnd hook.
func (m *sessionMetrics) sessionEnded(s *rtmp.Session, reason string) {
	reason = m.bound(reason)
	m.ended.WithLabelValues(s.Role().String(), reason).Inc()
	switch {
	case reason == "shutdown":
	case !s.Handshaken():
		m.handshakeErrs.WithLabelValues(reason).Inc()
	case !normalEnds[reason]:
		m.commandErrs.WithLabelValues(reason).Inc()
	}
}

// bound returns reason, or "other" once maxReasons distinct ones were seen.
func (m *sessionMetrics) bound(reason string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reasons[reason] {
		return reason
	}
	if len(m.reasons) >= maxReasons || reason == "" || strings.ContainsFunc(reason, notToken) {
		return "other"
	}
	m.reasons[reason] = true
	return reason
}

func notToken(r rune) bool { return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') }

// connStates exports the live connections by state, counted at scrape time
// from the server's session table, so sessions pay nothing for it.
type connStates struct {
	srv  *rtmp.Server
	desc *prometheus.Desc
}

// The states of bbllive_connections: handshaking, then in the command
// exchange (connected), then publishing or playing.
var connStateNames = []string{"handshake", "connected", "publishing", "playing"}

func newConnStates(srv *rtmp.Server) *connStates {
	return &connStates{srv: srv, desc: prometheus.NewDesc("bbllive_connections",
		"Open RTMP connections by state: handshake, connected (command exchange, no role yet), publishing, playing.",
		[]string{"state"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *connStates) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *connStates) Collect(ch chan<- prometheus.Metric) {
	var n [4]int
	for _, s := range c.srv.Sessions() {
		n[connState(s)]++
	}
	for i, name := range connStateNames {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n[i]), name)
	}
}

// connState indexes connStateNames.
func connState(s *rtmp.Session) int {
	switch {
	case !s.Handshaken():
		return 0
	case s.Role() == rtmp.RolePublisher:
		return 2
	case s.Role() == rtmp.RolePlayer:
		return 3
	}
	return 1
}

// perConnCollector exports every connection as its own series, for those
// who accept the cardinality (-metrics.per-conn). It is registered on a
// registry of its own, never on the main one, so turning it off removes
// every per-connection label.
type perConnCollector struct {
	conns                                       *connSampler
	sent, received, sendRate, srtt, retr, sendQ *prometheus.Desc
}

func newPerConnCollector(conns *connSampler) *perConnCollector {
	labels := []string{"id", "role", "stream"}
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, labels, nil) }
	return &perConnCollector{conns: conns,
		sent:     d("bbllive_connection_sent_bytes_total", "Bytes sent on the connection (kernel-counted where its socket figures are read)."),
		received: d("bbllive_connection_received_bytes_total", "Bytes received on the connection (kernel-counted where its socket figures are read)."),
		sendRate: d("bbllive_connection_send_bytes_per_second", "Send throughput over the last interval (at least a second)."),
		srtt:     d("bbllive_connection_tcp_srtt_seconds", "The kernel's smoothed round-trip time of the connection (with socket figures only)."),
		retr:     d("bbllive_connection_tcp_retransmitted_segments_total", "TCP segments retransmitted on the connection (with socket figures only)."),
		sendQ:    d("bbllive_connection_tcp_send_queue_bytes", "Bytes sent and not yet acknowledged (with socket figures only)."),
	}
}

// Describe implements prometheus.Collector.
func (c *perConnCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sent, c.received, c.sendRate, c.srtt, c.retr, c.sendQ} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *perConnCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.conns.sample(time.Now()) {
		lv := []string{strconv.FormatUint(r.ID, 10), r.Role, r.Stream}
		m := func(d *prometheus.Desc, t prometheus.ValueType, v float64) {
			ch <- prometheus.MustNewConstMetric(d, t, v, lv...)
		}
		m(c.sent, prometheus.CounterValue, float64(r.BytesSent))
		m(c.received, prometheus.CounterValue, float64(r.BytesReceived))
		m(c.sendRate, prometheus.GaugeValue, r.SendRate)
		if r.SRTT != nil {
			m(c.srtt, prometheus.GaugeValue, *r.SRTT)
			m(c.retr, prometheus.CounterValue, float64(*r.Retransmits))
			m(c.sendQ, prometheus.GaugeValue, float64(*r.SendQueue))
		}
	}
}

// observability is what serve wires beside the RTMP path: the source of
// socket figures (eBPF probes or TCP_INFO), the metrics registries and the
// HTTP listener.
type observability struct {
	figures bpf.Source // eBPF probes or TCP_INFO (figures.go)
	http    *http.Server
	api     *http.Server // the -api listener, when the API has its own
	hls     *hls.Server
}

// startObservability exports the socket figures fig opened, hooks the
// session and connection events, and starts the HTTP listener (through
// fig, so its players' final figures are taken).
func startObservability(c *serveConfig, srv *rtmp.Server, hub *fanout.Hub, ctl *control, fig *socketFigures, log *slog.Logger) (*observability, error) {
	o := &observability{figures: fig.src}
	sm := newSessionMetrics()
	srv.OnSessionEnd = sm.sessionEnded
	if c.httpAddr == "" && c.access.apiAddr == "" {
		return o, nil
	}
	conns := newConnSampler(hub, o.figures)
	reg := newRegistry(srv, sm, hub, o.figures)
	reg.MustRegister(ctl.gate)
	if c.relay.running != nil {
		reg.MustRegister(c.relay.running)
	}
	var g prometheus.Gatherer = reg
	if c.perConnMetrics {
		perConn := prometheus.NewRegistry()
		perConn.MustRegister(newPerConnCollector(conns))
		g = prometheus.Gatherers{g, perConn}
	}
	hl, err := newHLS(&c.hls, hub, srv.NextID, log)
	if err != nil {
		o.close()
		return nil, err
	}
	o.hls = hl
	g = withHLSMetrics(g, hl)
	h := newHTTPHandler(g, hub, conns, log)
	layout := &httpLayout{hls: c.hls.on}
	if c.media.bound != nil {
		layout.set(&layout.play, c.media.bound)
	}
	if err := o.startAPI(c, ctl, withIndex(h, layout, onAPI), layout, log); err != nil {
		o.close()
		return nil, err
	}
	if c.httpAddr == "" {
		return o, nil
	}
	ln, err := fig.listen(c.httpAddr)
	if err != nil {
		o.close()
		return nil, fmt.Errorf("-http %s: %w", c.httpAddr, err)
	}
	layout.set(&layout.http, ln.Addr())
	page := withPage(ctl.handler(withIndex(h, layout, onHTTP), c.access.apiAddr == ""), newPage(c, hub, layout))
	o.http = serveHTTP(ln, withEdgeDemand(withHLS(withMedia(page, c.media.handler), o.hls), hub, c.relay.running), c.headerTimeout, log)
	log.Info("http listening", "addr", ln.Addr().String(), "per_conn_metrics", c.perConnMetrics)
	if c.onHTTP != nil {
		c.onHTTP(ln.Addr())
	}
	return o, nil
}

// close stops the HTTP listeners. Run it after the RTMP server and the hub
// are closed.
func (o *observability) close() {
	if o.http != nil {
		o.http.Close()
	}
	if o.api != nil {
		o.api.Close()
	}
	if o.hls != nil {
		o.hls.Close()
	}
}
