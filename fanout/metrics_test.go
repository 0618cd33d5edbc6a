package fanout

import (
	"io"
	"math"
	"net"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bpf"
	"github.com/bbllive/bbllive/rtmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestWriteSizeBucket(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{0, 0}, {1, 0}, {2, 1}, {3, 2}, {4, 2}, {5, 3}, {1024, 10}, {1025, 11},
		{1 << 22, 22}, {1<<22 + 1, 23}, {math.MaxInt32, 23},
	} {
		if got := WriteSizeBucket(tc.n); got != tc.want {
			t.Errorf("WriteSizeBucket(%d) = %d, want %d", tc.n, got, tc.want)
		}
		if tc.n > 0 && tc.want < WriteSizeBuckets-1 && tc.n > 1<<tc.want {
			t.Errorf("bucket %d (le %d) cannot hold %d", tc.want, 1<<tc.want, tc.n)
		}
	}
}

func TestLatencyHist(t *testing.T) {
	var h latencyHist
	for _, d := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 40 * time.Millisecond, time.Second, time.Minute, -time.Second} {
		h.observe(d)
	}
	desc := prometheus.NewDesc("x", "x", nil, nil)
	var m dto.Metric
	if err := h.metric(desc).Write(&m); err != nil {
		t.Fatal(err)
	}
	hg := m.GetHistogram()
	if hg.GetSampleCount() != 6 {
		t.Errorf("count %d, want 6", hg.GetSampleCount())
	}
	if want := (time.Millisecond + 5*time.Millisecond + 40*time.Millisecond + time.Second + time.Minute).Seconds(); math.Abs(hg.GetSampleSum()-want) > 1e-9 {
		t.Errorf("sum %v, want %v (a negative duration counts as zero)", hg.GetSampleSum(), want)
	}
	want := map[float64]uint64{.005: 3, .01: 3, .025: 3, .05: 4, 1: 5, 30: 5}
	for _, b := range hg.GetBucket() {
		if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
		}
	}
}

// attachCookiePlayer attaches the server end of a loopback connection as a
// player of s, with its cookie as Hub.Play would set it, and drains the
// client end.
func attachCookiePlayer(t *testing.T, h *Hub, s *Stream, id uint64) *Player {
	t.Helper()
	client, server := loopbackPair(t, 0)
	go io.Copy(io.Discard, client)
	p := &Player{conn: server, id: id, waiting: true, joined: time.Now(), cookie: socketCookie(server)}
	if err := s.addPlayer(p, testRTMP); err != nil {
		t.Fatal(err)
	}
	if err := h.transport.Add(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// gather collects c into metric families by name.
func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// value returns the value of the series of name whose labels include want.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if v, ok := want[lp.GetName()]; ok && v != lp.GetValue() {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no series of %s with labels %v", name, want)
	return 0
}

// TestCollector publishes to two loopback players through each transport
// and checks that the collector's figures agree with the counters behind
// them and with each other.
func TestCollector(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			cfg := Config{Flush: FlushMessage, Workers: 1}
			testCollector(t, cfg, tr.make(t, cfg))
		})
	}
}

func testCollector(t *testing.T, cfg Config, tr Transport) {
	ts, ok := tr.(TransportStats)
	if !ok {
		t.Fatalf("transport %s does not implement TransportStats", tr.Name())
	}
	h := NewHub(cfg, tr, testLogger(t))
	t.Cleanup(func() { h.Close() })

	s := publishTo(t, h, "live/m")
	p1 := attachCookiePlayer(t, h, s, 1)
	p2 := attachCookiePlayer(t, h, s, 2)
	ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
	ingest(t, s, rtmp.TypeAudio, 0, aacSeq())
	const frames = 20
	for i := range frames {
		ingest(t, s, rtmp.TypeVideo, uint32(i*40), frame(i%10 == 0, 3000))
	}
	var last TransportSnapshot
	waitUntil(t, "players caught up", func() bool {
		time.Sleep(20 * time.Millisecond)
		snap, prev := ts.Snapshot(), last
		last = snap
		return p1.BytesSent.Load() > 0 && p2.BytesSent.Load() == p1.BytesSent.Load() && s.Stats().BytesOut.Load() == 2*p1.BytesSent.Load() &&
			snap.BytesWritten == s.Stats().BytesOut.Load() && snap == prev // and nothing moved since the last look
	})
	snap := ts.Snapshot()

	c := NewCollector(h)
	mfs := gather(t, c)
	st := map[string]string{"stream": "live/m"}
	np := map[string]string{"transport": tr.Name()}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"bbllive_streams", nil, 1},
		{"bbllive_publishers", nil, 1},
		{"bbllive_players", nil, 2},
		{"bbllive_stream_live", st, 1},
		{"bbllive_stream_players", st, 2},
		{"bbllive_stream_received_messages_total", st, frames + 2},
		{"bbllive_stream_received_bytes_total", st, float64(len(avcSeq()) + len(aacSeq()) + frames*3000)},
		{"bbllive_stream_sent_bytes_total", st, float64(s.Stats().BytesOut.Load())},
		{"bbllive_stream_keyframes_total", st, 2},
		{"bbllive_stream_wire_log_bytes_total", st, float64(s.Head())},
		{"bbllive_stream_gop_cache_bytes", st, float64(s.GOPBytes())},
		{"bbllive_stream_player_joins_total", st, 2},
		{"bbllive_stream_keyframe_skips_total", st, 0},
		{"bbllive_player_time_to_first_frame_seconds", nil, 2},
		{"bbllive_transport_written_bytes_total", np, float64(s.Stats().BytesOut.Load())},
		{"bbllive_transport_writes_total", np, float64(snap.Writes)},
	} {
		if got := value(t, mfs, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if _, ok := mfs["bbllive_transport_write_size_bytes"]; ok != snap.SizesCounted {
		t.Errorf("write size histogram exported: %v, sizes counted: %v", ok, snap.SizesCounted)
	} else if ok {
		ws := mfs["bbllive_transport_write_size_bytes"].GetMetric()[0].GetHistogram()
		if ws.GetSampleCount() == 0 || ws.GetSampleSum() != float64(snap.BytesWritten) {
			t.Errorf("write size histogram: %d writes summing to %v, want >0 summing to %d", ws.GetSampleCount(), ws.GetSampleSum(), snap.BytesWritten)
		}
	}
	if _, ok := mfs["bbllive_uring_sqes_submitted_total"]; ok != snap.Ring {
		t.Errorf("io_uring figures exported: %v, for a ring: %v", ok, snap.Ring)
	} else if ok && value(t, mfs, "bbllive_uring_enter_calls_total", np) == 0 {
		t.Error("a ring that wrote made no io_uring_enter calls")
	}

	conns := h.StreamConns()["live/m"]
	if len(conns) != 2 || conns[0] == conns[1] || conns[0] == 0 {
		t.Fatalf("StreamConns = %v, want two distinct cookies", conns)
	}
	for _, p := range []*Player{p1, p2} {
		want, err := bpf.Cookie(p.conn.(*net.TCPConn))
		if err != nil {
			t.Fatal(err)
		}
		if p.cookie != want {
			t.Errorf("player %d cookie %d, bpf.Cookie says %d", p.id, p.cookie, want)
		}
	}
	infos := h.Conns()
	if len(infos) != 3 || infos[0].Role != "publisher" || infos[1].Role != "player" {
		t.Fatalf("Conns = %+v, want the publisher then two players", infos)
	}
	if infos[0].BytesReceived != uint64(value(t, mfs, "bbllive_stream_received_bytes_total", st)) {
		t.Errorf("publisher received %d, stream says otherwise", infos[0].BytesReceived)
	}

	p1.Close()
	if after := gather(t, c); value(t, after, "bbllive_stream_players", st) != 1 {
		t.Error("closed player still counted")
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCodecs(t *testing.T) {
	h := newTestHub(Config{})
	s := publishTo(t, h, "live/c")
	if v, a := s.Codecs(); v != "" || a != "" {
		t.Errorf("before headers: %q %q", v, a)
	}
	ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
	ingest(t, s, rtmp.TypeAudio, 0, aacSeq())
	if v, a := s.Codecs(); v != "avc" || a != "aac" {
		t.Errorf("Codecs = %q %q, want avc aac", v, a)
	}
}

func TestSocketCookieOfNonSocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c := socketCookie(a); c != 0 {
		t.Errorf("pipe cookie %d, want 0", c)
	}
	if c := socketCookie(nil); c != 0 {
		t.Errorf("nil cookie %d, want 0", c)
	}
}
