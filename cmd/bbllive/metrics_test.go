package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench"
	"github.com/bbllive/bbllive/fanout/logtest"
	"github.com/bbllive/bbllive/rtmp"
	"github.com/cilium/ebpf"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"
)

// ---- a synthetic publisher and counting players ----

// metricsPub publishes AVC- and AAC-shaped messages (25 fps, a keyframe a
// second, audio every 23 ms) at about bitsPerSec until stop, and keeps its
// connection open after, so the stream stays live and quiet.
type metricsPub struct {
	c       *rtmp.Client
	quit    chan struct{}
	done    chan struct{}
	payload atomic.Int64
	err     error
}

func startMetricsPub(t testing.TB, url string, bitsPerSec int) *metricsPub {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rtmp.Dial(ctx, url)
	if err != nil {
		t.Fatalf("publisher: %v", err)
	}
	if err := c.Publish(); err != nil {
		c.Close()
		t.Fatalf("publish: %v", err)
	}
	p := &metricsPub{c: c, quit: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { p.stop(); c.Close() })
	go func() { defer close(p.done); p.err = p.run(bitsPerSec) }()
	return p
}

func (p *metricsPub) stop() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	<-p.done
}

func (p *metricsPub) send(typ uint8, ts uint32, payload []byte) error {
	if err := p.c.WriteMessage(&rtmp.Message{Type: typ, Timestamp: ts, Payload: payload}); err != nil {
		return err
	}
	p.payload.Add(int64(len(payload)))
	return nil
}

func (p *metricsPub) run(bitsPerSec int) error {
	meta, _ := rtmp.AppendAMF0(nil, "@setDataFrame", "onMetaData", rtmp.ECMAArray{{Key: "width", Value: 640.0}})
	const audioBytes = 200
	frameBytes := max(bitsPerSec/8/25-2*audioBytes, 64)
	head := []struct {
		typ uint8
		p   []byte
	}{{rtmp.TypeDataAMF0, meta}, {rtmp.TypeVideo, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1}}, {rtmp.TypeAudio, []byte{0xaf, 0, 0x12, 0x10}}}
	for _, h := range head {
		if err := p.send(h.typ, 0, h.p); err != nil {
			return err
		}
	}
	video := make([]byte, frameBytes)
	audio := make([]byte, audioBytes)
	audio[0], audio[1] = 0xaf, 1
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		video[0], video[1] = 0x27, 1
		if i%25 == 0 {
			video[0] = 0x17
		}
		ts := uint32(i * 40)
		if err := p.send(rtmp.TypeVideo, ts, video); err != nil {
			return err
		}
		for k := range 2 {
			if err := p.send(rtmp.TypeAudio, ts+uint32(k*20), audio); err != nil {
				return err
			}
		}
		if err := p.c.Flush(); err != nil {
			return err
		}
		select {
		case <-p.quit:
			return nil
		case <-tick.C:
		}
	}
}

// countingPlayer plays and discards what arrives, counting the bytes.
type countingPlayer struct {
	c *rtmp.Client
	n atomic.Int64
}

func startCountingPlayer(t testing.TB, url string) *countingPlayer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rtmp.Dial(ctx, url)
	if err != nil {
		t.Fatalf("player: %v", err)
	}
	if err := c.Play(); err != nil {
		c.Close()
		t.Fatalf("play: %v", err)
	}
	p := &countingPlayer{c: c}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Conn().Read(buf)
			p.n.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	return p
}

// ---- scraping ----

// scrape fetches /metrics and parses it as Prometheus text, as the bench
// does.
func scrape(t testing.TB, httpAddr string) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := bench.ScrapeMetrics(context.Background(), httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// series returns the value of name's series whose labels match labels
// ("k=v" pairs): a counter's or gauge's value, a histogram's count.
func series(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			found := false
			for _, lp := range m.GetLabel() {
				found = found || lp.GetName() == k && lp.GetValue() == v
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func mustSeries(t testing.TB, mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := series(mfs, name, labels...)
	if !ok {
		t.Fatalf("/metrics has no %s%v", name, labels)
	}
	return v
}

// apiGet is GET http://httpAddr+path with the test's API token, which a
// server without -api-token ignores.
func apiGet(t testing.TB, httpAddr, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+httpAddr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAPIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func getJSON(t testing.TB, httpAddr, path string, v any) {
	t.Helper()
	resp := apiGet(t, httpAddr, path)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s: %s, %s", path, resp.Status, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// ---- tests ----

// TestMetricsScrape runs a publisher and three players on each transport,
// scrapes /metrics twice and checks that the series the issue names exist,
// hold the right gauges, and that the counters move with the traffic.
func TestMetricsScrape(t *testing.T) {
	for _, io := range []string{"netpoll", "uring"} {
		t.Run(io, func(t *testing.T) { testMetricsScrape(t, io) })
	}
}

func testMetricsScrape(t *testing.T, io string) {
	srv := startServer(t, "-io", io, "-metrics.per-conn", "-publish-grace", "2s")
	if srv.http == "" {
		t.Fatal("no HTTP address reported")
	}
	url := srv.url("m")
	startMetricsPub(t, url, 1_000_000)
	for range 3 {
		startCountingPlayer(t, url)
	}
	var s1 map[string]*dto.MetricFamily
	waitFor(t, 10*time.Second, "three players started", func() bool {
		s1 = scrape(t, srv.http)
		n, _ := series(s1, "bbllive_player_time_to_first_frame_seconds")
		return n == 3
	})
	time.Sleep(600 * time.Millisecond)
	s2 := scrape(t, srv.http)

	st := "stream=live/m"
	for _, g := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"bbllive_connections", []string{"state=publishing"}, 1},
		{"bbllive_connections", []string{"state=playing"}, 3},
		{"bbllive_connections", []string{"state=handshake"}, 0},
		{"bbllive_streams", nil, 1},
		{"bbllive_publishers", nil, 1},
		{"bbllive_players", nil, 3},
		{"bbllive_stream_live", []string{st}, 1},
		{"bbllive_stream_players", []string{st}, 3},
		{"bbllive_stream_player_joins_total", []string{st}, 3},
		{"bbllive_stream_publishes_total", []string{st}, 1},
		{"bbllive_stream_keyframe_skips_total", []string{st}, 0},
		{"bbllive_stream_slow_player_disconnects_total", []string{st}, 0},
		{"bbllive_player_time_to_first_frame_seconds", nil, 3},
	} {
		if got := mustSeries(t, s2, g.name, g.labels...); got != g.want {
			t.Errorf("%s%v = %v, want %v", g.name, g.labels, got, g.want)
		}
	}
	tr := "transport=" + io
	moving := []struct {
		name   string
		labels []string
	}{
		{"bbllive_stream_received_bytes_total", []string{st}},
		{"bbllive_stream_received_messages_total", []string{st}},
		{"bbllive_stream_sent_bytes_total", []string{st}},
		{"bbllive_stream_wire_log_bytes_total", []string{st}},
		{"bbllive_transport_writes_total", []string{tr}},
		{"bbllive_transport_written_bytes_total", []string{tr}},
		{"bbllive_connection_sent_bytes_total", []string{"role=player"}},
	}
	switch io {
	case "netpoll":
		moving = append(moving, struct {
			name   string
			labels []string
		}{"bbllive_transport_write_size_bytes", []string{tr}})
	case "uring":
		for _, name := range []string{"bbllive_uring_sqes_submitted_total", "bbllive_uring_cqes_reaped_total", "bbllive_uring_enter_calls_total"} {
			moving = append(moving, struct {
				name   string
				labels []string
			}{name, []string{tr}})
		}
		mustSeries(t, s2, "bbllive_uring_registered_buffer_bytes", tr)
	}
	for _, m := range moving {
		a, b := mustSeries(t, s1, m.name, m.labels...), mustSeries(t, s2, m.name, m.labels...)
		if b <= a {
			t.Errorf("%s%v did not move: %v then %v", m.name, m.labels, a, b)
		}
	}
	if k := mustSeries(t, s2, "bbllive_stream_keyframes_total", st); k < 1 {
		t.Errorf("keyframes %v", k)
	}
	if g := mustSeries(t, s2, "bbllive_stream_gop_cache_bytes", st); g <= 0 {
		t.Errorf("gop cache %v bytes", g)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "process_resident_memory_bytes", "bbllive_bpf_enabled"} {
		mustSeries(t, s2, name)
	}
	if n := len(s2["bbllive_connection_sent_bytes_total"].GetMetric()); n != 4 {
		t.Errorf("-metrics.per-conn: %d connection series, want 4 (publisher and 3 players)", n)
	}

	// A bad handshake and a command out of order end up in the error counters.
	bad, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	bad.Write(append([]byte{9}, make([]byte, 1536)...))
	readUntilEOF(bad)
	early, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := rtmp.ClientHandshake(early); err != nil {
		t.Fatal(err)
	}
	cmd, _ := rtmp.AppendCommandMessage(nil, "play", 1, nil, "m")
	cw := rtmp.NewChunkWriter(early)
	cw.WriteMessage(&rtmp.Message{Type: rtmp.TypeCommandAMF0, CSID: rtmp.CSIDCommand, Payload: cmd})
	cw.Flush()
	readUntilEOF(early)
	waitFor(t, 5*time.Second, "error counters", func() bool {
		s := scrape(t, srv.http)
		h, _ := series(s, "bbllive_handshake_errors_total", "reason=handshake_version")
		c, _ := series(s, "bbllive_command_errors_total", "reason=command_order")
		e, _ := series(s, "bbllive_sessions_ended_total", "role=none", "reason=command_order")
		return h == 1 && c == 1 && e == 1
	})
}

// readUntilEOF waits (bounded) for the server to close c.
func readUntilEOF(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, c)
	c.Close()
}

// TestMetricsOffSwitches checks the defaults that bound cardinality and
// the switches: no per-connection series without -metrics.per-conn, and
// bbllive_bpf_enabled 0 with -bpf=false while everything else works.
func TestMetricsOffSwitches(t *testing.T) {
	srv := startServer(t, "-bpf=false", "-publish-grace", "2s")
	startCountingPlayer(t, srv.url("waiting"))
	// The client hears NetStream.Play.Start as the server's session
	// switches state, so the first scrape may come a moment early.
	var s map[string]*dto.MetricFamily
	waitFor(t, 2*time.Second, "one playing connection", func() bool {
		s = scrape(t, srv.http)
		return mustSeries(t, s, "bbllive_connections", "state=playing") == 1
	})
	if v := mustSeries(t, s, "bbllive_bpf_enabled"); v != 0 {
		t.Errorf("bbllive_bpf_enabled = %v with -bpf=false", v)
	}
	for name, mf := range s {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "id" || lp.GetName() == "peer" {
					t.Errorf("%s carries per-connection label %s without -metrics.per-conn", name, lp.GetName())
				}
			}
		}
	}
	var conns []connRow
	getJSON(t, srv.http, "/api/connections", &conns)
	if len(conns) != 1 || conns[0].Source != "kernel" || conns[0].SRTT == nil {
		t.Errorf("/api/connections without eBPF = %+v, want one player with TCP_INFO figures", conns)
	}
	if v := mustSeries(t, s, "bbllive_socket_figures_source", "source=tcp_info"); v != 1 {
		t.Errorf("bbllive_socket_figures_source{source=tcp_info} = %v with -bpf=false", v)
	}
	if srv.logs.Count("eBPF socket figures off") != 1 {
		t.Errorf("want one log line saying eBPF is off")
	}

	off := startServer(t, "-http", "")
	if off.http != "" {
		t.Errorf("-http \"\" still listens on %s", off.http)
	}
}

// needBPF skips a test where eBPF cannot run, naming why; on a machine
// that has root the test runs.
func needBPF(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("eBPF socket probes need root (CAP_BPF, CAP_PERFMON)")
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skipf("kernel has no BTF: %v", err)
	}
}

// controlBytesMax bounds what a server sends a connection beyond the
// stream's media: the handshake (3073 bytes), the connect and play or
// publish replies, and acknowledgements.
const (
	handshakeBytes  = 1 + 2*1536
	controlBytesMax = handshakeBytes + 1024
)

// TestBPFStreamBytes compares what the kernel says the stream's
// connections sent with what the server believes it wrote, on each
// transport, with the figures from eBPF, and checks the per-connection JSON.
func TestBPFStreamBytes(t *testing.T) {
	needBPF(t)
	for _, io := range []string{"netpoll", "uring"} {
		t.Run(io, func(t *testing.T) {
			srv := startServer(t, "-io", io, "-publish-grace", "2s")
			if srv.logs.Count("eBPF socket figures on") != 1 {
				t.Fatalf("eBPF did not load as root: %s", srv.logs.String())
			}
			checkKernelStreamBytes(t, srv.http, srv.url("k"), "bpf")
		})
	}
}

// TestTCPInfoStreamBytes is TestBPFStreamBytes with the fallback: -bpf=false
// makes the server read the same figures with TCP_INFO (as it does where
// eBPF cannot load), which must hold to the same bounds.
func TestTCPInfoStreamBytes(t *testing.T) {
	for _, io := range []string{"netpoll", "uring"} {
		t.Run(io, func(t *testing.T) {
			srv := startServer(t, "-io", io, "-publish-grace", "2s", "-bpf=false")
			checkKernelStreamBytes(t, srv.http, srv.url("k"), "tcp_info")
		})
	}
}

// TestKernelStreamBytesLeavingPlayers: players of the protocols beside
// RTMP — HTTP-FLV on -http, WebSocket-FLV and fMP4 on -http-play, RTMPS on
// -listen-tls — each on a stream of its own, leave while media flows, and
// then their publishers do, on each transport with either source of
// figures. What they were sent, and what the publishers sent, since the
// last scrape must not be lost: the stream's kernel figures must cover the
// app's own and the handshakes, as checkKernelStreamBytes defines them.
func TestKernelStreamBytesLeavingPlayers(t *testing.T) {
	for _, src := range figureSources {
		for _, io := range []string{"netpoll", "uring"} {
			t.Run(src.name+"/"+io, func(t *testing.T) {
				if src.name == "bpf" {
					needBPF(t)
				}
				srv := startFiguresServer(t, append([]string{"-io", io, "-publish-grace", "1s"}, src.args...)...)
				checkLeavingPlayers(t, srv, src.name)
			})
		}
	}
}

// checkLeavingPlayers runs TestKernelStreamBytesLeavingPlayers on srv,
// whose figures must come from wantSource.
func checkLeavingPlayers(t *testing.T, srv *figuresServer, wantSource string) {
	kinds := []string{"http-flv", "ws-flv", "fmp4", "rtmps"}
	var pubs []*metricsPub
	var players []*leavingPlayer
	var streams []string
	for _, k := range kinds {
		pubs = append(pubs, startMetricsPub(t, srv.url(k), 1_000_000))
		players = append(players, startLeavingPlayer(t, srv, k, k))
		streams = append(streams, "live/"+k)
	}
	waitFor(t, 5*time.Second, "media at every player", func() bool {
		for _, p := range players {
			if p.n.Load() < 10_000 {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second)
	s := scrape(t, srv.http) // every connection is counted up to here…
	if v := mustSeries(t, s, "bbllive_socket_figures_source", "source="+wantSource); v != 1 {
		t.Fatalf("bbllive_socket_figures_source{source=%q} = %v, want 1", wantSource, v)
	}
	for _, stream := range streams {
		if n := mustSeries(t, s, "bbllive_stream_tcp_connections", "stream="+stream); n != 2 {
			t.Errorf("%s: bbllive_stream_tcp_connections = %v, want 2 (publisher and player)", stream, n)
		}
	}
	time.Sleep(500 * time.Millisecond)
	for _, p := range players {
		p.leave() // …and the half second of media each player got since must not be lost…
	}
	time.Sleep(300 * time.Millisecond)
	for _, p := range pubs {
		p.stop()
		p.c.Close() // …nor what the publishers sent since
	}
	time.Sleep(700 * time.Millisecond)
	last := lastStreamFigures(t, srv.http, streams)
	for i, k := range kinds {
		f := last[streams[i]]
		read := players[i].n.Load()
		t.Logf("%s %s: out: app %.0f, kernel %.0f (+%.0f), player read %d; in: app payload %.0f, kernel %.0f (+%.0f)",
			wantSource, k, f.appOut, f.kOut, f.kOut-f.appOut, read, f.appIn, f.kIn, f.kIn-f.appIn)
		// Out: the player's bytes (app-counted: for RTMPS the plaintext
		// under TLS), its headers and handshake, and the publisher's
		// handshake and replies.
		over := f.kOut - f.appOut
		maxOver := float64(2*controlBytesMax + 1024) // + the HTTP answer's headers
		if k == "rtmps" {
			maxOver += f.appOut/20 + 16<<10 // TLS records and handshake
		}
		if over < handshakeBytes || over > maxOver {
			t.Errorf("%s: kernel sent %.0f, app %.0f: want the player's bytes and the publisher's control bytes (+%d..+%.0f)",
				k, f.kOut, f.appOut, handshakeBytes, maxOver)
		}
		if k != "rtmps" && int64(f.kOut) < read {
			t.Errorf("%s: kernel counted %.0f bytes sent, the player read %d", k, f.kOut, read)
		}
		if f.kIn < f.appIn+handshakeBytes-1 {
			t.Errorf("%s: kernel received %.0f, publisher payload %.0f: want at least payload plus its handshake", k, f.kIn, f.appIn)
		}
	}
}

// checkKernelStreamBytes publishes to url, plays it with three players, one
// of which leaves while media flows, and checks the kernel figures on
// /metrics against the server's own counters: the difference must be the
// control bytes of the connections, the one that left included (its final
// figures are not lost), and wantSource must say where they came from.
func checkKernelStreamBytes(t *testing.T, httpAddr, url, wantSource string) {
	pub := startMetricsPub(t, url, 2_000_000)
	const nPlayers = 3
	var players []*countingPlayer
	for range nPlayers {
		players = append(players, startCountingPlayer(t, url))
	}
	time.Sleep(1500 * time.Millisecond)
	var conns []connRow
	getJSON(t, httpAddr, "/api/connections", &conns)
	time.Sleep(1100 * time.Millisecond)
	getJSON(t, httpAddr, "/api/connections", &conns) // a rate over the last second
	scrape(t, httpAddr)                              // the leaving player is counted up to here…
	time.Sleep(500 * time.Millisecond)
	players[0].c.Close() // …and the half second of media it got since must not be lost
	time.Sleep(700 * time.Millisecond)
	pub.stop()
	// Quiet now: wait until every player has everything the server sent.
	// (The clients' readers buffer some bytes during Play, so what the
	// players count is compared with the server only as a lower bound.)
	var lastOut float64
	var lastGot int64 = -1
	waitFor(t, 5*time.Second, "players caught up", func() bool {
		time.Sleep(200 * time.Millisecond)
		out := mustSeries(t, scrape(t, httpAddr), "bbllive_stream_sent_bytes_total", "stream=live/k")
		var got int64
		for _, p := range players {
			got += p.n.Load()
		}
		stable := out == lastOut && got == lastGot
		lastOut, lastGot = out, got
		return stable
	})
	s := scrape(t, httpAddr)
	if v := mustSeries(t, s, "bbllive_bpf_enabled"); v != oneIfTrue(wantSource == "bpf") {
		t.Errorf("bbllive_bpf_enabled = %v with figures from %s", v, wantSource)
	}
	if v := mustSeries(t, s, "bbllive_socket_figures_source", "source="+wantSource); v != 1 {
		t.Errorf("bbllive_socket_figures_source{source=%q} = %v, want 1", wantSource, v)
	}
	appOut := mustSeries(t, s, "bbllive_stream_sent_bytes_total", "stream=live/k")
	appIn := mustSeries(t, s, "bbllive_stream_received_bytes_total", "stream=live/k")
	kOut := mustSeries(t, s, "bbllive_stream_kernel_sent_bytes_total", "stream=live/k")
	kIn := mustSeries(t, s, "bbllive_stream_kernel_received_bytes_total", "stream=live/k")
	var clientGot int64
	for _, p := range players {
		clientGot += p.n.Load()
	}
	const conns4 = nPlayers + 1
	t.Logf("%s: stream out: app %.0f, kernel %.0f (+%.0f), players read %d; in: app payload %.0f, kernel %.0f",
		wantSource, appOut, kOut, kOut-appOut, clientGot, appIn, kIn)
	if kOut-appOut < conns4*handshakeBytes || kOut-appOut > conns4*controlBytesMax {
		t.Errorf("kernel sent %.0f, app %.0f: the difference should be the control bytes of %d connections (%d..%d)",
			kOut, appOut, conns4, conns4*handshakeBytes, conns4*controlBytesMax)
	}
	if int64(kOut) < clientGot {
		t.Errorf("kernel counted %.0f bytes sent, players read %d", kOut, clientGot)
	}
	if kIn < appIn+conns4*(handshakeBytes-1) {
		t.Errorf("kernel received %.0f, publisher payload %.0f: want at least payload plus the handshakes", kIn, appIn)
	}
	if n := mustSeries(t, s, "bbllive_stream_tcp_connections", "stream=live/k"); n != conns4-1 {
		t.Errorf("bbllive_stream_tcp_connections = %v, want %d", n, conns4-1)
	}
	mustSeries(t, s, "bbllive_stream_tcp_srtt_seconds", "stream=live/k")
	mustSeries(t, s, "bbllive_stream_tcp_retransmitted_segments_total", "stream=live/k")

	checkConnRows(t, conns, players, pub)
	var streams []streamRow
	getJSON(t, httpAddr, "/api/streams", &streams)
	if len(streams) != 1 || !streams[0].Live || streams[0].Players != nPlayers-1 || streams[0].VideoCodec != "avc" || streams[0].AudioCodec != "aac" {
		t.Errorf("/api/streams = %+v", streams)
	}
}

func oneIfTrue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// checkConnRows checks /api/connections against the clients: every one
// listed once with its address, kernel-counted, moving.
func checkConnRows(t *testing.T, rows []connRow, players []*countingPlayer, pub *metricsPub) {
	t.Helper()
	byPeer := map[string]connRow{}
	for _, r := range rows {
		byPeer[r.Peer] = r
	}
	if len(rows) != len(players)+1 || len(byPeer) != len(rows) {
		t.Fatalf("/api/connections lists %d connections (%d peers), want %d", len(rows), len(byPeer), len(players)+1)
	}
	check := func(who, peer, role string) {
		r, ok := byPeer[peer]
		switch {
		case !ok:
			t.Errorf("%s %s not listed", who, peer)
		case r.Role != role || r.Stream != "live/k" || r.ID == 0 || r.Cookie == 0:
			t.Errorf("%s: %+v", who, r)
		case r.Source != "kernel" || r.SRTT == nil || r.Retransmits == nil || r.SendQueue == nil:
			t.Errorf("%s: not kernel-counted: %+v", who, r)
		case r.Interval < 1:
			t.Errorf("%s: rate over %.2fs, want at least a second", who, r.Interval)
		}
		if role == "player" && (r.BytesSent < r.AppBytesSent+handshakeBytes || r.SendRate <= 0) {
			t.Errorf("%s: kernel sent %d, app %d, rate %.0f B/s", who, r.BytesSent, r.AppBytesSent, r.SendRate)
		}
		if role == "publisher" && (r.BytesReceived < r.AppBytesReceived || r.ReceiveRate <= 0) {
			t.Errorf("%s: kernel received %d, app payload %d, rate %.0f B/s", who, r.BytesReceived, r.AppBytesReceived, r.ReceiveRate)
		}
	}
	check("publisher", pub.c.Conn().LocalAddr().String(), "publisher")
	for i, p := range players {
		check(fmt.Sprintf("player %d", i), p.c.Conn().LocalAddr().String(), "player")
	}
}

// ---- the server as a child process ----

// serverBinary builds bbllive into a directory every user may read, so a
// child can run unprivileged; the test's cleanup removes it.
func serverBinary(t testing.TB) string {
	t.Helper()
	// go test puts its own GOROOT/bin first in PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool in PATH to build the server binary: %v", err)
	}
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "bbllive")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return bin
}

// childServer is bbllive running in its own process.
type childServer struct {
	cmd        *exec.Cmd
	addr, http string
	logs       *logtest.Buffer
	done       chan error
	stopOnce   sync.Once
}

var (
	rtmpListenRE = regexp.MustCompile(`msg="bbllive listening" rtmp=(\S+)`)
	httpListenRE = regexp.MustCompile(`msg="http listening" addr=(\S+)`)
)

// startChild runs the server binary bin with args, as uid when uid >= 0,
// and waits until both its listeners are up.
func startChild(t testing.TB, bin string, uid int, args ...string) *childServer {
	t.Helper()
	args = append([]string{"serve", "-listen", "127.0.0.1:0", "-http", "127.0.0.1:0", "-stats-interval", "0"}, args...)
	cmd := exec.Command(bin, args...)
	if uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childServer{cmd: cmd, logs: &logtest.Buffer{}, done: make(chan error, 1)}
	up := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		var once sync.Once
		for sc.Scan() {
			c.logs.Write(append(sc.Bytes(), '\n'))
			if rtmpListenRE.MatchString(c.logs.String()) && httpListenRE.MatchString(c.logs.String()) {
				once.Do(func() { close(up) })
			}
		}
		c.done <- cmd.Wait()
	}()
	t.Cleanup(c.stop)
	select {
	case <-up:
	case <-time.After(15 * time.Second):
		t.Fatalf("child server did not start: %s", c.logs.String())
	}
	c.addr = rtmpListenRE.FindStringSubmatch(c.logs.String())[1]
	c.http = httpListenRE.FindStringSubmatch(c.logs.String())[1]
	return c
}

// stop ends the child with SIGTERM, then SIGKILL if it lingers.
func (c *childServer) stop() {
	c.stopOnce.Do(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
	})
}

// TestBPFUnavailableGraceful runs the server as an unprivileged user: the
// probes cannot load, and the server must say why in one line, export
// bbllive_bpf_enabled 0, serve as usual, and take the same kernel figures
// from TCP_INFO instead, checked against its own byte counts.
func TestBPFUnavailableGraceful(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a child as another user (running unprivileged, every server here is that case)")
	}
	c := startChild(t, serverBinary(t), 65534, "-publish-grace", "2s")
	if n := strings.Count(c.logs.String(), "eBPF socket figures off"); n != 1 {
		t.Fatalf("want one line saying why eBPF is off, got %d: %s", n, c.logs.String())
	}
	if !strings.Contains(c.logs.String(), "why=") || !strings.Contains(c.logs.String(), "not running as root") {
		t.Errorf("the line does not say why: %s", c.logs.String())
	}
	for _, l := range strings.Split(c.logs.String(), "\n") {
		if strings.Contains(l, "eBPF socket figures off") {
			t.Logf("as uid 65534: %s", l)
		}
	}
	checkKernelStreamBytes(t, c.http, "rtmp://"+c.addr+"/live/k", "tcp_info")
}

// ---- the probes' cost ----

// processCPU is the CPU time of every thread of pid, from the scheduler's
// nanosecond accounting (/proc/pid/task/*/schedstat).
func processCPU(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no schedstat for pid %d: %v", pid, err)
	}
	var total time.Duration
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited
		}
		var ns int64
		fmt.Sscan(string(b), &ns)
		total += time.Duration(ns)
	}
	return total, nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Cost benchmark load: a 1 Mbit/s synthetic stream to 200 players.
const (
	costPlayers = 200
	costBitrate = 1_000_000
	costWarmup  = 1500 * time.Millisecond
	costWindow  = 5 * time.Second
	costRounds  = 2
	// costScrape is far more often than Prometheus' default 15 s, so that
	// what reading the kernel's figures costs shows in the window.
	costScrape = time.Second
)

// BenchmarkBPFCost measures the server's CPU at a fixed player load with
// its socket figures from the eBPF probes and from the TCP_INFO fallback
// (-bpf=false), in alternating rounds, scraping /metrics every second in
// both, and reports both and their ratio. The server runs
// in a child process, so its CPU is its own; the players' CPU (this
// process) is reported too. Run with -benchtime 1x.
func BenchmarkBPFCost(b *testing.B) {
	needBPF(b)
	bin := serverBinary(b)
	var server, client [2]time.Duration // [tcp_info, bpf]
	var probes time.Duration
	var runs uint64
	for range b.N {
		for r := range 2 * costRounds {
			res := costRound(b, bin, r%2 == 1)
			server[r%2] += res.server
			client[r%2] += res.client
			probes += res.probes
			runs += res.runs
		}
	}
	window := time.Duration(b.N*costRounds) * costWindow
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / window.Seconds() }
	b.ReportMetric(pct(server[0]), "server-cpu%-tcpinfo")
	b.ReportMetric(pct(server[1]), "server-cpu%-bpf")
	b.ReportMetric(server[1].Seconds()/server[0].Seconds(), "server-ratio")
	b.ReportMetric(pct(client[0]), "players-cpu%-tcpinfo")
	b.ReportMetric(pct(client[1]), "players-cpu%-bpf")
	b.ReportMetric(pct(probes), "probes-cpu%")
	b.ReportMetric(100*probes.Seconds()/server[0].Seconds(), "probes-%-of-server")
	b.Logf("%d players of %d kbit/s, %v windows: server %.2f%% of a core with TCP_INFO → %.2f%% with eBPF (%+.1f%%); players %.2f%% → %.2f%%",
		costPlayers, costBitrate/1000, costWindow, pct(server[0]), pct(server[1]), 100*(server[1].Seconds()/server[0].Seconds()-1),
		pct(client[0]), pct(client[1]))
	b.Logf("kernel-measured (bpf_stats): the probes ran %d times for %v, %.3f%% of a core = %.2f%% of the server's CPU with TCP_INFO (%.0f ns a run)",
		runs, probes, pct(probes), 100*probes.Seconds()/server[0].Seconds(), float64(probes.Nanoseconds())/float64(max(runs, 1)))
}

// costResult is one round's CPU: the server's, this process's (the
// players'), and the probes' own run time as the kernel accounts it.
type costResult struct {
	server, client, probes time.Duration
	runs                   uint64
}

// costRound runs one server, loads it, and returns the CPU it and this
// process spent over the measuring window.
func costRound(b *testing.B, bin string, bpfOn bool) costResult {
	b.StopTimer()
	before := lastProgramID()
	c := startChild(b, bin, -1, fmt.Sprintf("-bpf=%v", bpfOn))
	defer c.stop()
	if bpfOn && strings.Contains(c.logs.String(), "eBPF socket figures off") {
		b.Fatalf("eBPF did not load: %s", c.logs.String())
	}
	url := "rtmp://" + c.addr + "/live/cost"
	pub := startMetricsPub(b, url, costBitrate)
	defer pub.stop()
	players := make([]*countingPlayer, costPlayers)
	for i := range players {
		players[i] = startCountingPlayer(b, url)
	}
	defer func() {
		for _, p := range players {
			p.c.Close()
		}
	}()
	var progs []*ebpf.Program
	if bpfOn {
		progs = socketPrograms(b, before)
		st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
		if err != nil {
			b.Fatalf("enabling bpf_stats: %v", err)
		}
		defer st.Close()
	}
	time.Sleep(costWarmup)
	b.StartTimer()
	p0, n0 := progRuntime(progs)
	s0, err := processCPU(c.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	c0 := selfCPU()
	scrapeEvery(b, c.http, costScrape, costWindow)
	s1, err := processCPU(c.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	c1 := selfCPU()
	p1, n1 := progRuntime(progs)
	b.StopTimer()
	if bpfOn {
		b.Logf("probe totals since the stats were enabled: %s", progBreakdown(progs))
	}
	var got int64
	for _, p := range players {
		got += p.n.Load()
	}
	if want := int64(costPlayers) * costBitrate / 8 * int64(costWindow/time.Second) / 2; got < want {
		b.Fatalf("players received %d bytes: the load did not run", got)
	}
	return costResult{server: s1 - s0, client: c1 - c0, probes: p1 - p0, runs: n1 - n0}
}

// scrapeEvery fetches /metrics every interval for window, with or without
// eBPF alike, so both rounds pay for the scrapes and the difference is the
// probes' own cost.
func scrapeEvery(b *testing.B, httpAddr string, interval, window time.Duration) {
	b.Helper()
	end := time.Now().Add(window)
	for time.Now().Before(end) {
		next := time.Now().Add(interval)
		scrape(b, httpAddr)
		time.Sleep(min(time.Until(next), time.Until(end)))
	}
}

// lastProgramID is the highest id of the eBPF programs loaded now.
func lastProgramID() ebpf.ProgramID {
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return id
		}
		id = next
	}
}

// socketPrograms opens the socket-accounting programs loaded after id
// after: the child server's.
func socketPrograms(b *testing.B, after ebpf.ProgramID) []*ebpf.Program {
	b.Helper()
	names := map[string]bool{"dump_sockets": true, "on_state": true}
	var out []*ebpf.Program
	for id := after; ; {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			break
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		if info, err := p.Info(); err == nil && names[info.Name] {
			out = append(out, p)
			b.Cleanup(func() { p.Close() })
			continue
		}
		p.Close()
	}
	if len(out) != len(names) {
		b.Fatalf("found %d of the child's %d socket programs", len(out), len(names))
	}
	return out
}

// progRuntime sums the programs' run time and run count (bpf_stats).
func progRuntime(progs []*ebpf.Program) (time.Duration, uint64) {
	var d time.Duration
	var n uint64
	for _, p := range progs {
		if st, err := p.Stats(); err == nil {
			d += st.Runtime
			n += st.RunCount
		}
	}
	return d, n
}

// progBreakdown says, per program, how often it ran and for how long.
func progBreakdown(progs []*ebpf.Program) string {
	var parts []string
	for _, p := range progs {
		info, err := p.Info()
		st, err2 := p.Stats()
		if err != nil || err2 != nil {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d runs %v", info.Name, st.RunCount, st.Runtime))
	}
	return strings.Join(parts, ", ")
}
