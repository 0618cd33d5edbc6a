package bpf

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// streamList is a StreamConns the test can change between scrapes.
type streamList struct {
	mu sync.Mutex
	m  map[string][]uint64
}

func (s *streamList) set(m map[string][]uint64) { s.mu.Lock(); s.m = m; s.mu.Unlock() }
func (s *streamList) get() map[string][]uint64  { s.mu.Lock(); defer s.mu.Unlock(); return s.m }

// gather scrapes reg and indexes the samples by metric name and stream.
func gather(t *testing.T, reg *prometheus.Registry) map[string]map[string]*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]map[string]*dto.Metric)
	for _, mf := range mfs {
		byStream := make(map[string]*dto.Metric)
		for _, m := range mf.Metric {
			stream := ""
			for _, l := range m.Label {
				if l.GetName() == "stream" || l.GetName() == "source" {
					stream = l.GetValue()
				}
			}
			byStream[stream] = m
		}
		out[mf.GetName()] = byStream
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}

// send writes n bytes from a to b and waits for them to arrive.
func send(t *testing.T, a, b *net.TCPConn, n int) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); drain(t, b, int64(n)) }()
	if _, err := a.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	<-done
}

func TestCollectorPerStream(t *testing.T) {
	eachSource(t, testCollectorPerStream)
}

func testCollectorPerStream(t *testing.T, ts testSource) {
	// Two players of stream "a" and one of "b": the server side of each pair
	// is the player's connection, as in bbllive.
	_, a1 := tcpPair(t)
	a2c, a2 := tcpPair(t)
	_, b1 := tcpPair(t)
	list := &streamList{}
	list.set(map[string][]uint64{
		"a": {cookieOf(t, a1), cookieOf(t, a2)},
		"b": {cookieOf(t, b1)},
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(ts.src, list.get))

	send(t, a1, peerOf(t, a1), 1000)
	send(t, a2, a2c, 3000)
	send(t, a2c, a2, 7) // the player speaks too (acks, commands)
	send(t, b1, peerOf(t, b1), 500)

	got := gather(t, reg)
	checks := []struct {
		metric, stream string
		want           float64
	}{
		{"bbllive_bpf_enabled", "", oneIf(ts.src.Name() == SourceBPF)},
		{"bbllive_socket_figures_source", ts.src.Name(), 1},
		{"bbllive_socket_figures_source", SourceNone, 0},
		{"bbllive_stream_kernel_sent_bytes_total", "a", 4000},
		{"bbllive_stream_kernel_received_bytes_total", "a", 7},
		{"bbllive_stream_kernel_sent_bytes_total", "b", 500},
		{"bbllive_stream_kernel_received_bytes_total", "b", 0},
		{"bbllive_stream_tcp_retransmitted_segments_total", "a", 0},
		{"bbllive_stream_tcp_connections", "a", 2},
		{"bbllive_stream_tcp_connections", "b", 1},
	}
	for _, c := range checks {
		if v := value(got[c.metric][c.stream]); v != c.want {
			t.Errorf("%s{stream=%q} = %v, want %v", c.metric, c.stream, v, c.want)
		}
	}
	h := got["bbllive_stream_tcp_srtt_seconds"]["a"].GetHistogram()
	if h.GetSampleCount() != 2 || h.GetSampleSum() <= 0 {
		t.Errorf("srtt histogram of a: count %d sum %v, want 2 samples > 0", h.GetSampleCount(), h.GetSampleSum())
	}
	if sq, ok := got["bbllive_stream_tcp_send_queue_bytes"]["a"]; !ok || value(sq) < 0 {
		t.Error("send queue gauge of a missing")
	}

	// More traffic, then a2 closes before the next scrape and leaves the
	// list: its bytes written after the first scrape must still count.
	send(t, a1, peerOf(t, a1), 10)
	send(t, a2, a2c, 20)
	ts.close(a2)
	list.set(map[string][]uint64{"a": {cookieOf(t, a1)}, "b": {cookieOf(t, b1)}})
	got = gather(t, reg)
	if v := value(got["bbllive_stream_kernel_sent_bytes_total"]["a"]); v != 4030 {
		t.Errorf("after close: sent{a} = %v, want 4030", v)
	}
	if v := value(got["bbllive_stream_tcp_connections"]["a"]); v != 1 {
		t.Errorf("after close: connections{a} = %v, want 1", v)
	}

	// Stream b ends after a last write: its final figures are exported
	// once, then its series go away.
	send(t, b1, peerOf(t, b1), 1)
	ts.close(b1)
	list.set(map[string][]uint64{"a": {cookieOf(t, a1)}})
	got = gather(t, reg)
	if v := value(got["bbllive_stream_kernel_sent_bytes_total"]["b"]); v != 501 {
		t.Errorf("final sent{b} = %v, want 501", v)
	}
	if v := value(got["bbllive_stream_tcp_connections"]["b"]); v != 0 {
		t.Errorf("final connections{b} = %v, want 0", v)
	}
	got = gather(t, reg)
	if _, ok := got["bbllive_stream_kernel_sent_bytes_total"]["b"]; ok {
		t.Error("series of ended stream b still exported")
	}
	if v := value(got["bbllive_stream_kernel_sent_bytes_total"]["a"]); v != 4030 {
		t.Errorf("idle scrape changed sent{a} to %v, want 4030", v)
	}
}

// peerOf finds the other end of a loopback connection made by tcpPair.
func peerOf(t *testing.T, c *net.TCPConn) *net.TCPConn {
	t.Helper()
	pairsMu.Lock()
	defer pairsMu.Unlock()
	p, ok := pairs[c]
	if !ok {
		t.Fatal("no peer recorded")
	}
	return p
}

func TestCollectorKernelClose(t *testing.T) {
	p := loadProbes(t)
	client, player := tcpPair(t)
	list := &streamList{}
	list.set(map[string][]uint64{"live": {cookieOf(t, player)}})
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(p, list.get))
	send(t, player, client, 100)
	gather(t, reg)
	send(t, player, client, 50)
	ck := cookieOf(t, player)
	player.Close()
	client.Close()
	deadline := time.Now().Add(5 * time.Second)
	for _, ok := p.Socket(ck); ok; _, ok = p.Socket(ck) {
		if time.Now().After(deadline) {
			t.Fatal("socket still live 5s after close")
		}
		time.Sleep(10 * time.Millisecond)
	}
	list.set(map[string][]uint64{"live": nil})
	got := gather(t, reg)
	if v := value(got["bbllive_stream_kernel_sent_bytes_total"]["live"]); v != 150 {
		t.Errorf("sent{live} = %v, want 150", v)
	}
}

func TestCollectorWithoutProbes(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(nil, func() map[string][]uint64 { return map[string][]uint64{"x": {1}} }))
	got := gather(t, reg)
	if v := value(got["bbllive_bpf_enabled"][""]); v != 0 {
		t.Errorf("bbllive_bpf_enabled = %v, want 0", v)
	}
	for _, s := range []string{SourceBPF, SourceTCPInfo, SourceNone} {
		if v := value(got["bbllive_socket_figures_source"][s]); v != oneIf(s == SourceNone) {
			t.Errorf("bbllive_socket_figures_source{source=%q} = %v without a source", s, v)
		}
	}
	if len(got) != 2 {
		t.Errorf("exported %d families without a source, want only bbllive_bpf_enabled and bbllive_socket_figures_source", len(got))
	}
}

func TestStreamTotalsAdd(t *testing.T) {
	cases := []struct {
		name                      string
		last, cur                 SocketStats
		sent, recv, retrans, kept uint64 // added to the totals; Retransmits remembered
	}{
		{"first sight", SocketStats{}, SocketStats{BytesSent: 10, BytesReceived: 3, Retransmits: 1}, 10, 3, 1, 1},
		{"delta", SocketStats{BytesSent: 10, BytesReceived: 3}, SocketStats{BytesSent: 15, BytesReceived: 3}, 5, 0, 0, 0},
		{"a read lagging an earlier one", SocketStats{BytesSent: 10, BytesReceived: 3, Retransmits: 4}, SocketStats{BytesSent: 4, BytesReceived: 9, Retransmits: 2}, 0, 6, 0, 4},
		{"retransmits rise", SocketStats{BytesSent: 1, Retransmits: 2}, SocketStats{BytesSent: 1, Retransmits: 7}, 0, 0, 5, 7},
		{"retransmits read lagging", SocketStats{BytesSent: 1, Retransmits: 7}, SocketStats{BytesSent: 2, Retransmits: 6}, 1, 0, 0, 7},
	}
	for _, c := range cases {
		var tot streamTotals
		now := tot.add(c.last, c.cur)
		if tot.sent != c.sent || tot.received != c.recv || tot.retrans != c.retrans {
			t.Errorf("%s: added sent %d recv %d retrans %d, want %d %d %d", c.name, tot.sent, tot.received, tot.retrans, c.sent, c.recv, c.retrans)
		}
		if now.Retransmits != c.kept {
			t.Errorf("%s: remembered %d retransmits, want %d", c.name, now.Retransmits, c.kept)
		}
	}
}

func TestSRTTBuckets(t *testing.T) {
	tot := streamTotals{srttCounts: make([]uint64, len(SRTTBuckets)+1)}
	for _, d := range []time.Duration{0, 30 * time.Microsecond, 50 * time.Microsecond, 2 * time.Millisecond, time.Hour} {
		tot.observe(SocketStats{SRTT: d})
	}
	cum := tot.cumulative()
	if tot.srttCount != 4 {
		t.Errorf("count %d, want 4 (zero SRTT is no sample)", tot.srttCount)
	}
	if cum[50e-6] != 2 || cum[.0025] != 3 || cum[2.5] != 3 {
		t.Errorf("cumulative buckets %v", cum)
	}
}
