package bpf

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// StreamConns reports, for every stream, the socket cookies of its current
// connections (publisher and players). A Collector calls it once per scrape,
// from the scraping goroutine, so it must be safe for concurrent use.
type StreamConns func() map[string][]uint64

// SRTTBuckets are the upper bounds, in seconds, of the per-stream smoothed
// RTT histogram: from loopback (tens of µs) to a congested intercontinental
// path.
var SRTTBuckets = []float64{50e-6, 100e-6, 250e-6, 500e-6, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// Collector exports the kernel's figures aggregated per stream, never per
// connection, so the series count stays bounded by the number of streams
// (per-connection figures belong to Probes.Socket and a JSON endpoint).
//
// Counters stay exact across connection churn: the Collector remembers what
// it has already counted of each connection, and takes the final figures of
// a connection that closed between two scrapes from the kernel's table of
// closed sockets. A connection that opens and closes entirely between two
// scrapes is never listed by StreamConns, so it is not counted.
//
// The SRTT histogram gets one observation per live connection per scrape:
// its rate() is the share of connection-time spent in each RTT band.
type Collector struct {
	src     Source
	streams StreamConns

	mu      sync.Mutex
	gen     uint64
	tracked map[uint64]*trackedConn
	totals  map[string]*streamTotals

	enabled, source, sent, received, retrans, srtt, conns, sendQueue *prometheus.Desc
}

// trackedConn is what the Collector has already counted of one connection.
type trackedConn struct {
	stream string
	last   SocketStats
	listed uint64 // the scrape generation that last listed it
	unseen int    // scrapes in a row that found it neither open nor closed
}

// streamTotals are the monotonic counters and histogram of one stream.
type streamTotals struct {
	sent, received, retrans uint64
	srttCounts              []uint64 // per bucket, not cumulative; last is +Inf
	srttSum                 float64
	srttCount               uint64
	ended                   bool // no connections left at the last scrape
}

// scrapeGauges are the per-scrape gauges of one stream.
type scrapeGauges struct {
	conns     int
	sendQueue uint64
}

// NewCollector returns a collector of src's figures grouped by streams: the
// eBPF Probes or the TCPInfo fallback, the same families either way, with
// bbllive_socket_figures_source saying which. src may be nil (no figures):
// the collector then exports only bbllive_bpf_enabled 0 and the source
// gauge at none, so dashboards can tell "no data" from "no traffic".
func NewCollector(src Source, streams StreamConns) *Collector {
	label := []string{"stream"}
	return &Collector{
		src:     src,
		streams: streams,
		tracked: make(map[uint64]*trackedConn),
		totals:  make(map[string]*streamTotals),
		enabled: prometheus.NewDesc("bbllive_bpf_enabled",
			"1 if the eBPF socket probes are loaded and attached, 0 if the kernel or privileges did not allow it.", nil, nil),
		source: prometheus.NewDesc("bbllive_socket_figures_source",
			"1 for the source the per-socket kernel figures come from: bpf (eBPF probes), tcp_info (getsockopt, unprivileged) or none.", []string{"source"}, nil),
		sent: prometheus.NewDesc("bbllive_stream_kernel_sent_bytes_total",
			"Bytes the stream's connections handed to the kernel, from the kernel's TCP counters (see bbllive_socket_figures_source).", label, nil),
		received: prometheus.NewDesc("bbllive_stream_kernel_received_bytes_total",
			"Bytes the stream's connections took from the kernel, from the kernel's TCP counters (see bbllive_socket_figures_source).", label, nil),
		retrans: prometheus.NewDesc("bbllive_stream_tcp_retransmitted_segments_total",
			"TCP segments the kernel retransmitted on the stream's connections.", label, nil),
		srtt: prometheus.NewDesc("bbllive_stream_tcp_srtt_seconds",
			"Smoothed TCP round-trip time of the stream's connections, one observation per connection per scrape.", label, nil),
		conns: prometheus.NewDesc("bbllive_stream_tcp_connections",
			"Open TCP connections of the stream, as the kernel reports them.", label, nil),
		sendQueue: prometheus.NewDesc("bbllive_stream_tcp_send_queue_bytes",
			"Bytes written to the stream's connections and not yet acknowledged, summed over connections.", label, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.enabled, c.source, c.sent, c.received, c.retrans, c.srtt, c.conns, c.sendQueue} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := SourceName(c.src)
	ch <- prometheus.MustNewConstMetric(c.enabled, prometheus.GaugeValue, oneIf(name == SourceBPF))
	for _, s := range []string{SourceBPF, SourceTCPInfo, SourceNone} {
		ch <- prometheus.MustNewConstMetric(c.source, prometheus.GaugeValue, oneIf(s == name), s)
	}
	if name == SourceNone {
		return
	}
	gauges := c.update()
	for stream, t := range c.totals {
		ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(t.sent), stream)
		ch <- prometheus.MustNewConstMetric(c.received, prometheus.CounterValue, float64(t.received), stream)
		ch <- prometheus.MustNewConstMetric(c.retrans, prometheus.CounterValue, float64(t.retrans), stream)
		ch <- prometheus.MustNewConstHistogram(c.srtt, t.srttCount, t.srttSum, t.cumulative(), stream)
		g := gauges[stream]
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(g.conns), stream)
		ch <- prometheus.MustNewConstMetric(c.sendQueue, prometheus.GaugeValue, float64(g.sendQueue), stream)
	}
}

// update reads the kernel's figures of every connection listed now or
// counted before, folds what is new into the stream totals, and forgets
// streams with neither listed nor draining connections.
func (c *Collector) update() map[string]scrapeGauges {
	c.gen++
	var listed map[string][]uint64
	if c.streams != nil {
		listed = c.streams()
	}
	for stream, cookies := range listed {
		c.totalsOf(stream)
		for _, k := range cookies {
			tr := c.tracked[k]
			if tr == nil {
				tr = &trackedConn{}
				c.tracked[k] = tr
			}
			tr.stream, tr.listed = stream, c.gen
		}
	}
	gauges := make(map[string]scrapeGauges, len(listed))
	live, err := c.src.Snapshot()
	if err != nil {
		return gauges // keep what was counted; the next scrape catches up
	}
	for k, tr := range c.tracked {
		t := c.totalsOf(tr.stream)
		if s, ok := live[k]; ok {
			tr.last, tr.unseen = t.add(tr.last, s), 0
			if tr.listed == c.gen {
				g := gauges[tr.stream]
				g.conns++
				g.sendQueue += uint64(s.SendQueue)
				gauges[tr.stream] = g
				t.observe(s)
			}
			continue
		}
		if s, ok := c.src.Retired(k); ok {
			t.add(tr.last, s)
			delete(c.tracked, k)
			continue
		}
		// Neither open nor closed: between its descriptor's close and the
		// kernel's tcp_close, or closed and evicted. Wait one scrape for
		// the first; after that nothing more will come.
		if tr.unseen++; tr.listed != c.gen && tr.unseen > 1 {
			delete(c.tracked, k)
		}
	}
	c.endStreams(listed)
	return gauges
}

// endStreams exports a stream that ended once more, with the final figures
// of its last connections, then ends its series.
func (c *Collector) endStreams(listed map[string][]uint64) {
	draining := make(map[string]bool)
	for _, tr := range c.tracked {
		draining[tr.stream] = true
	}
	for stream, t := range c.totals {
		_, ok := listed[stream]
		switch {
		case ok || draining[stream]:
			t.ended = false
		case t.ended:
			delete(c.totals, stream)
		default:
			t.ended = true
		}
	}
}

func (c *Collector) totalsOf(stream string) *streamTotals {
	t := c.totals[stream]
	if t == nil {
		t = &streamTotals{srttCounts: make([]uint64, len(SRTTBuckets)+1)}
		c.totals[stream] = t
	}
	return t
}

// add counts what cur has that last, the figures already counted, lacks,
// and returns what is counted now. A socket's cookie is never reused and
// its counters only grow, but a read racing the kernel may lag behind an
// earlier one, so every figure is only ever taken forward.
func (t *streamTotals) add(last, cur SocketStats) SocketStats {
	cur.BytesSent = max(cur.BytesSent, last.BytesSent)
	cur.BytesReceived = max(cur.BytesReceived, last.BytesReceived)
	cur.Retransmits = max(cur.Retransmits, last.Retransmits)
	t.sent += cur.BytesSent - last.BytesSent
	t.received += cur.BytesReceived - last.BytesReceived
	t.retrans += cur.Retransmits - last.Retransmits
	return cur
}

// observe records a connection's SRTT; zero means the kernel has no sample.
func (t *streamTotals) observe(s SocketStats) {
	if s.SRTT <= 0 {
		return
	}
	v := s.SRTT.Seconds()
	i := 0
	for i < len(SRTTBuckets) && v > SRTTBuckets[i] {
		i++
	}
	t.srttCounts[i]++
	t.srttSum += v
	t.srttCount++
}

// cumulative returns the histogram buckets in Prometheus' cumulative form.
func (t *streamTotals) cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(SRTTBuckets))
	var acc uint64
	for i, le := range SRTTBuckets {
		acc += t.srttCounts[i]
		out[le] = acc
	}
	return out
}

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// alive reports whether p can be read; a nil or closed Probes cannot.
func (p *Probes) alive() bool {
	if p == nil {
		return false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return !p.closed
}
