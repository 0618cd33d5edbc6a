package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/hls"
	"github.com/prometheus/client_golang/prometheus"
)

// hlsConfig is the flags of HLS on the -http listener.
type hlsConfig struct {
	on            bool
	part          time.Duration
	segmentTarget time.Duration
	window        int
	segment       string
	always        bool
	idle          time.Duration
	sessionIdle   time.Duration
}

func (c *hlsConfig) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.on, "hls", true, "serve (LL-)HLS on the -http listener at /APP/NAME/index.m3u8")
	durationVar(fs, &c.part, "hls-part", hls.DefaultPartTarget, "LL-HLS part duration (PART-TARGET)")
	durationVar(fs, &c.segmentTarget, "hls-segment-target", hls.DefaultSegmentTarget, "shortest HLS segment; segments end at the next keyframe after it")
	fs.IntVar(&c.window, "hls-window", hls.DefaultWindow, "HLS segments listed and kept in memory per stream")
	fs.StringVar(&c.segment, "hls-segment", hls.FormatFMP4, "HLS segment format")
	fs.BoolVar(&c.always, "hls-always", false, "remux every live stream for HLS, not only those with HLS viewers")
	durationVar(fs, &c.idle, "hls-idle", hls.DefaultIdleTimeout, "stop a stream's HLS remuxer this long after its last HLS request")
	durationVar(fs, &c.sessionIdle, "hls-session-idle", hls.DefaultSessionIdle,
		"with access control on, end an HLS viewer (on_stop, its place in the limits) this long after its last playlist request")
}

// newHLS builds the HLS handler, or nil when -hls is off; nextID numbers
// its viewers from the RTMP server's sequence.
func newHLS(c *hlsConfig, hub *fanout.Hub, nextID func() uint64, log *slog.Logger) (*hls.Server, error) {
	if !c.on {
		return nil, nil
	}
	s, err := hls.NewServer(hub, hls.Config{PartTarget: c.part, SegmentTarget: c.segmentTarget, Window: c.window,
		Always: c.always, IdleTimeout: c.idle, SessionIdle: c.sessionIdle, Format: c.segment}, log)
	if err != nil {
		return nil, fmt.Errorf("-hls: %w", err)
	}
	s.NextID = nextID
	return s, nil
}

// withHLS routes /APP/NAME/FILE to the HLS handler and the rest to next.
func withHLS(next http.Handler, h *hls.Server) http.Handler {
	if h == nil {
		return next
	}
	mux := http.NewServeMux()
	mux.Handle("/{app}/{name}/{file}", h)
	mux.Handle("/", next)
	return mux
}

// hlsCollector exports the HLS server's figures on /metrics.
type hlsCollector struct {
	h                                    *hls.Server
	remuxers, started, dropped, requests *prometheus.Desc
	refused, sessions                    *prometheus.Desc
}

func newHLSCollector(h *hls.Server) *hlsCollector {
	return &hlsCollector{h: h,
		remuxers: prometheus.NewDesc("bbllive_hls_remuxers", "Streams being remuxed for HLS now.", nil, nil),
		started:  prometheus.NewDesc("bbllive_hls_remuxers_started_total", "HLS remuxers started.", nil, nil),
		dropped: prometheus.NewDesc("bbllive_hls_dropped_messages_total",
			"Messages an HLS remuxer dropped because its queue was full (the media resumes at the next keyframe).", nil, nil),
		requests: prometheus.NewDesc("bbllive_hls_requests_total", "HLS requests answered, by kind.", []string{"kind"}, nil),
		refused:  prometheus.NewDesc("bbllive_hls_refused_total", "HLS requests answered with 4xx or 503.", nil, nil),
		sessions: prometheus.NewDesc("bbllive_hls_sessions",
			"HLS viewers admitted by access control and not yet idle (0 while access control is off).", nil, nil),
	}
}

func (c *hlsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.remuxers
	ch <- c.started
	ch <- c.dropped
	ch <- c.requests
	ch <- c.refused
	ch <- c.sessions
}

func (c *hlsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.h.Stats()
	ch <- prometheus.MustNewConstMetric(c.remuxers, prometheus.GaugeValue, float64(st.Remuxers))
	ch <- prometheus.MustNewConstMetric(c.started, prometheus.CounterValue, float64(st.RemuxersTotal))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(st.Dropped))
	for k, n := range st.Requests {
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(n), hls.KindNames[k])
	}
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.Refused))
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(st.Sessions))
}

// withHLSMetrics adds the HLS server's figures to g.
func withHLSMetrics(g prometheus.Gatherer, h *hls.Server) prometheus.Gatherer {
	if h == nil {
		return g
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newHLSCollector(h))
	return prometheus.Gatherers{g, reg}
}
