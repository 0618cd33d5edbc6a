package fanout

import (
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TransportSnapshot is a transport's counters at one instant. Fields a
// transport has no notion of stay zero; Ring says whether the io_uring
// figures mean anything.
type TransportSnapshot struct {
	// Writes counts write operations: writev system calls (netpoll) or
	// write SQEs (io_uring WRITEV, WRITE_FIXED, SEND_ZC).
	Writes uint64
	// BytesWritten is what the writes took.
	BytesWritten uint64
	// ShortWrites counts writes that took less than offered.
	ShortWrites uint64
	// WouldBlock counts writes refused outright because the socket was full.
	WouldBlock uint64
	// WriteSizes counts completed writes by size; bucket i holds writes of
	// at most 2^i bytes (see WriteSizeBucket), the last one the rest.
	// SizesCounted says the transport keeps them; one that does not
	// exports no size histogram rather than an empty one.
	WriteSizes   [WriteSizeBuckets]uint64
	SizesCounted bool

	// Ring is true for an io_uring transport.
	Ring bool
	// SQEs submitted, CQEs reaped, and io_uring_enter system calls made.
	SQEs, CQEs, Enters uint64
	// RegisteredBytes is the memory currently registered with the ring
	// (fixed buffers), a gauge.
	RegisteredBytes uint64
}

// TransportStats is implemented by transports that export counters; the
// Collector reads it at scrape time, so a transport only keeps atomics.
type TransportStats interface {
	Snapshot() TransportSnapshot
}

// WriteSizeBuckets is the number of write-size buckets: up to 2^22 bytes
// (4 MiB) in powers of two, then one for anything larger.
const WriteSizeBuckets = 24

// WriteSizeBucket is the bucket of a write of n bytes: the smallest i with
// n <= 2^i, capped at the overflow bucket. It is a few instructions, cheap
// enough for every write.
func WriteSizeBucket(n int) int {
	if n <= 1 {
		return 0
	}
	return min(bits.Len(uint(n-1)), WriteSizeBuckets-1)
}

// Snapshot implements TransportStats.
func (t *Netpoll) Snapshot() TransportSnapshot {
	st := &t.stats
	s := TransportSnapshot{
		Writes:       st.Writevs.Load(),
		BytesWritten: st.BytesWritten.Load(),
		ShortWrites:  st.ShortWrites.Load(),
		WouldBlock:   st.WouldBlock.Load(),
		SizesCounted: true,
	}
	for i := range st.WriteSizes {
		s.WriteSizes[i] = st.WriteSizes[i].Load()
	}
	return s
}

// Snapshot implements TransportStats from the io_uring transport's own
// counters and its rings'.
func (t *Uring) Snapshot() TransportSnapshot {
	st, rs := &t.stats, t.RingStats()
	s := TransportSnapshot{
		Writes:          st.Writes.Load(),
		BytesWritten:    st.BytesWritten.Load(),
		ShortWrites:     st.ShortWrites.Load(),
		SizesCounted:    true,
		Ring:            true,
		SQEs:            rs.Submitted,
		CQEs:            rs.Reaped,
		Enters:          rs.Enters,
		RegisteredBytes: st.RegisteredBytes.Load(),
	}
	for i := range st.WriteSizes {
		s.WriteSizes[i] = st.WriteSizes[i].Load()
	}
	return s
}

// firstFrameBuckets are the upper bounds, in seconds, of the
// time-to-first-frame histogram: a player that joins a live stream starts
// within a flush interval; one waiting for a publisher may wait seconds.
var firstFrameBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// latencyHist is a histogram kept in atomics over firstFrameBuckets, so an
// observation costs two atomic adds and no lock.
type latencyHist struct {
	counts [13]atomic.Uint64 // len(firstFrameBuckets)+1, the last is +Inf
	nanos  atomic.Uint64
}

func (h *latencyHist) observe(d time.Duration) {
	v := d.Seconds()
	i := 0
	for i < len(firstFrameBuckets) && v > firstFrameBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.nanos.Add(uint64(max(d, 0)))
}

// metric returns the histogram as a constant Prometheus metric.
func (h *latencyHist) metric(d *prometheus.Desc) prometheus.Metric {
	buckets := make(map[float64]uint64, len(firstFrameBuckets))
	var acc uint64
	for i, le := range firstFrameBuckets {
		acc += h.counts[i].Load()
		buckets[le] = acc
	}
	acc += h.counts[len(firstFrameBuckets)].Load()
	return prometheus.MustNewConstHistogram(d, acc, float64(h.nanos.Load())/1e9, buckets)
}

// Collector exports a hub's streams and its transport's counters to
// Prometheus. It reads the counters the hot path keeps anyway, at scrape
// time, so metrics add no per-message work. Labels are the stream key and
// the transport name only: one series set per stream, never per
// connection.
type Collector struct {
	hub *Hub

	streams, publishers, players                        *prometheus.Desc
	live, streamPlayers, gopBytes, logBytes             *prometheus.Desc
	bytesIn, msgsIn, bytesOut, keyframes                *prometheus.Desc
	skips, slowDrops, publishes, joins                  *prometheus.Desc
	firstFrame                                          *prometheus.Desc
	writes, written, shortWrites, wouldBlock, writeSize *prometheus.Desc
	sqes, cqes, enters, registered                      *prometheus.Desc
}

// NewCollector returns a collector of h's streams and transport. Register it
// once, in the binary's registry.
func NewCollector(h *Hub) *Collector {
	stream := []string{"stream"}
	tr := []string{"transport"}
	d := prometheus.NewDesc
	return &Collector{
		hub:           h,
		streams:       d("bbllive_streams", "Streams the hub holds: live ones and those waiting for a publisher within the grace period.", nil, nil),
		publishers:    d("bbllive_publishers", "Attached publishers (live streams).", nil, nil),
		players:       d("bbllive_players", "Attached players over all streams.", nil, nil),
		live:          d("bbllive_stream_live", "1 while the stream has a publisher.", stream, nil),
		streamPlayers: d("bbllive_stream_players", "Players attached to the stream.", stream, nil),
		gopBytes:      d("bbllive_stream_gop_cache_bytes", "Size of the stream's GOP cache: its wire log from the newest keyframe.", stream, nil),
		logBytes:      d("bbllive_stream_wire_log_bytes_total", "Bytes serialized into the stream's wire log (media and control, once for all players).", stream, nil),
		bytesIn:       d("bbllive_stream_received_bytes_total", "Media payload bytes the stream's publishers sent.", stream, nil),
		msgsIn:        d("bbllive_stream_received_messages_total", "Audio, video and data messages the stream's publishers sent.", stream, nil),
		bytesOut:      d("bbllive_stream_sent_bytes_total", "Bytes written to the stream's players (as the server counts them).", stream, nil),
		keyframes:     d("bbllive_stream_keyframes_total", "Keyframes (GOP starts) the stream received.", stream, nil),
		skips:         d("bbllive_stream_keyframe_skips_total", "Times a lagging player was moved forward to the newest keyframe.", stream, nil),
		slowDrops:     d("bbllive_stream_slow_player_disconnects_total", "Players disconnected for staying behind.", stream, nil),
		publishes:     d("bbllive_stream_publishes_total", "Publishers that attached to the stream.", stream, nil),
		joins:         d("bbllive_stream_player_joins_total", "Players that attached to the stream.", stream, nil),
		firstFrame:    d("bbllive_player_time_to_first_frame_seconds", "Time from a player's play request to its first media bytes written (a keyframe, or a wait for the publisher).", nil, nil),
		writes:        d("bbllive_transport_writes_total", "Write operations to players: writev system calls (netpoll) or write SQEs (io_uring).", tr, nil),
		written:       d("bbllive_transport_written_bytes_total", "Bytes the transport's writes took.", tr, nil),
		shortWrites:   d("bbllive_transport_short_writes_total", "Writes that took less than offered (a full socket buffer).", tr, nil),
		wouldBlock:    d("bbllive_transport_would_block_total", "Writes refused outright because the socket buffer was full.", tr, nil),
		writeSize:     d("bbllive_transport_write_size_bytes", "Bytes per write to one player: the batch each flush achieves.", tr, nil),
		sqes:          d("bbllive_uring_sqes_submitted_total", "Submission queue entries submitted to io_uring.", tr, nil),
		cqes:          d("bbllive_uring_cqes_reaped_total", "Completion queue entries reaped from io_uring.", tr, nil),
		enters:        d("bbllive_uring_enter_calls_total", "io_uring_enter system calls.", tr, nil),
		registered:    d("bbllive_uring_registered_buffer_bytes", "Memory registered with io_uring as fixed buffers.", tr, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.streams, c.publishers, c.players,
		c.live, c.streamPlayers, c.gopBytes, c.logBytes, c.bytesIn, c.msgsIn, c.bytesOut, c.keyframes,
		c.skips, c.slowDrops, c.publishes, c.joins, c.firstFrame,
		c.writes, c.written, c.shortWrites, c.wouldBlock, c.writeSize, c.sqes, c.cqes, c.enters, c.registered} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	streams := c.hub.Streams()
	var publishers, players int
	for _, s := range streams {
		live, n := s.Live(), s.PlayerCount()
		if live {
			publishers++
		}
		players += n
		c.collectStream(ch, s, live, n)
	}
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	gauge(c.streams, len(streams))
	gauge(c.publishers, publishers)
	gauge(c.players, players)
	ch <- c.hub.firstFrame.metric(c.firstFrame)
	if ts, ok := c.hub.transport.(TransportStats); ok {
		c.collectTransport(ch, c.hub.transport.Name(), ts.Snapshot())
	}
}

func (c *Collector) collectStream(ch chan<- prometheus.Metric, s *Stream, live bool, players int) {
	st := s.Stats()
	key := s.Key()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, key)
	}
	counter := func(d *prometheus.Desc, v *atomic.Uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v.Load()), key)
	}
	gauge(c.live, b2f(live))
	gauge(c.streamPlayers, float64(players))
	gauge(c.gopBytes, float64(s.GOPBytes()))
	ch <- prometheus.MustNewConstMetric(c.logBytes, prometheus.CounterValue, float64(s.Head()), key)
	counter(c.bytesIn, &st.BytesIn)
	counter(c.msgsIn, &st.MessagesIn)
	counter(c.bytesOut, &st.BytesOut)
	counter(c.keyframes, &st.Keyframes)
	counter(c.skips, &st.Skips)
	counter(c.slowDrops, &st.SlowDrops)
	counter(c.publishes, &st.Publishes)
	counter(c.joins, &st.PlayersTotal)
}

func (c *Collector) collectTransport(ch chan<- prometheus.Metric, name string, s TransportSnapshot) {
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), name)
	}
	counter(c.writes, s.Writes)
	counter(c.written, s.BytesWritten)
	counter(c.shortWrites, s.ShortWrites)
	counter(c.wouldBlock, s.WouldBlock)
	if s.SizesCounted {
		c.collectSizes(ch, name, s)
	}
	if !s.Ring {
		return
	}
	counter(c.sqes, s.SQEs)
	counter(c.cqes, s.CQEs)
	counter(c.enters, s.Enters)
	ch <- prometheus.MustNewConstMetric(c.registered, prometheus.GaugeValue, float64(s.RegisteredBytes), name)
}

func (c *Collector) collectSizes(ch chan<- prometheus.Metric, name string, s TransportSnapshot) {
	buckets := make(map[float64]uint64, WriteSizeBuckets-1)
	var acc uint64
	for i := 0; i < WriteSizeBuckets-1; i++ {
		acc += s.WriteSizes[i]
		buckets[float64(uint64(1)<<i)] = acc
	}
	acc += s.WriteSizes[WriteSizeBuckets-1]
	// The sum is BytesWritten: every counted write took its bytes there.
	ch <- prometheus.MustNewConstHistogram(c.writeSize, acc, float64(s.BytesWritten), buckets, name)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
