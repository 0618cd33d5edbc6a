package main

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bbllive/bbllive/bpf"
	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newHTTPHandler serves /metrics and the JSON API; each listener that
// mounts it adds its own /index.txt (withIndex).
func newHTTPHandler(g prometheus.Gatherer, hub *fanout.Hub, conns *connSampler, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn), MaxRequestsInFlight: 4,
	}))
	mux.HandleFunc("GET /api/streams", func(w http.ResponseWriter, _ *http.Request) {
		serveJSON(w, streamRows(hub))
	})
	mux.HandleFunc("GET /api/connections", func(w http.ResponseWriter, _ *http.Request) {
		serveJSON(w, conns.sample(time.Now()))
	})
	return mux
}

// httpLayout is which HTTP listener is where, so that each one's index
// (/index.txt, the start page's links) lists only what that listener
// serves and says where the rest is. The addresses are set as the
// listeners open; an index is made per request, so the -api listener's
// can name -http, which opens after it. No credential is ever shown: an
// address is not one.
type httpLayout struct {
	hls bool // HLS on -http

	mu              sync.Mutex
	http, api, play string // as shown (showAddr); "" when that listener is off, api "" also when on -http
}

// Which listener an index is for.
const (
	onHTTP = "http"
	onAPI  = "api"
)

func (l *httpLayout) set(field *string, a net.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	*field = showAddr(a)
}

// showAddr is a bound address as an index shows it: the host left out
// when the listener takes every address, so ":8080" rather than "[::]:8080".
func showAddr(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok && (ta.IP == nil || ta.IP.IsUnspecified()) {
		return ":" + strconv.Itoa(ta.Port)
	}
	return a.String()
}

// index is the body of /index.txt on the listener on (onHTTP, onAPI).
func (l *httpLayout) index(on string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := []string{"bbllive " + versionString()}
	api := []string{"/metrics", "/api/streams", "/api/connections"}
	health := []string{"/healthz", "/readyz"}
	switch on {
	case onHTTP:
		lines = append(lines, "/ (the live streams page)", "/streams.json",
			"/APP/NAME.flv (HTTP-FLV; WebSocket-FLV on an Upgrade)", "/APP/NAME.mp4 (fMP4; WebSocket on an Upgrade)")
		if l.hls {
			lines = append(lines, "/APP/NAME/index.m3u8 (HLS)")
		}
		lines = append(lines, health...)
		if l.api == "" {
			lines = append(lines, api...)
		} else {
			lines = append(lines, "metrics and API on "+l.api+" (-api)")
		}
		if l.play != "" {
			lines = append(lines, "HTTP-FLV and fMP4 playback also on "+l.play+" (-http-play)")
		}
	case onAPI:
		lines = append(lines, api...)
		lines = append(lines, health...)
		if l.http != "" {
			lines = append(lines, "the live streams page and playback on "+l.http+" (-http)")
		}
		if l.play != "" {
			lines = append(lines, "HTTP-FLV and fMP4 playback also on "+l.play+" (-http-play)")
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// pageLinks are the start page's links besides index.txt: what of the
// API -http serves, or where it is.
func (l *httpLayout) pageLinks() []web.Link {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []web.Link
	if l.api == "" {
		out = append(out, web.Link{Text: "metrics", Href: "/metrics"}, web.Link{Text: "api/streams", Href: "/api/streams"})
	} else {
		out = append(out, web.Link{Text: "metrics and API on " + l.api})
	}
	if l.play != "" {
		out = append(out, web.Link{Text: "playback also on " + l.play})
	}
	return out
}

// withIndex serves GET /index.txt, the index of the listener on, and
// sends the rest to next.
func withIndex(next http.Handler, l *httpLayout, on string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /index.txt", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(l.index(on)))
	})
	mux.Handle("/", next)
	return mux
}

func serveJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// maxHeaderBytes bounds a request's headers: a player's request is a few
// hundred bytes, and larger ones are answered 431 and closed.
const maxHeaderBytes = 16 << 10

// startHTTP listens on addr and serves h until the returned server is
// closed. A client gets headerTimeout to send a request's headers, then a
// 408 and a close (http_timeout.go).
func startHTTP(addr string, h http.Handler, headerTimeout time.Duration, log *slog.Logger) (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	return serveHTTP(ln, h, headerTimeout, log), ln, nil
}

// serveHTTP is startHTTP on a listener already open (one of
// socketFigures.listen's, for the listeners that serve players).
func serveHTTP(ln net.Listener, h http.Handler, headerTimeout time.Duration, log *slog.Logger) *http.Server {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: headerTimeout, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: maxHeaderBytes, ConnState: trackHeaderPhase,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	started := make(chan struct{})
	once := sync.OnceFunc(func() { close(started) })
	go func() {
		defer once() // also when Serve fails before it accepts
		if err := hs.Serve(startedListener{headerTimeoutListener{ln}, once}); err != nil && err != http.ErrServerClosed {
			log.Error("http server failed", "err", err)
		}
	}()
	// Serve tracks the listener before its first Accept: from then on
	// hs.Close closes ln before it returns, so a serve that fails at a
	// later listener leaves no port of this one bound behind it.
	<-started
	return hs
}

// startedListener calls started (once) when the server first accepts.
type startedListener struct {
	net.Listener
	started func()
}

// Accept implements net.Listener.
func (l startedListener) Accept() (net.Conn, error) {
	l.started()
	return l.Listener.Accept()
}

// streamRow is one stream in /api/streams.
type streamRow struct {
	Stream         string `json:"stream"`
	Live           bool   `json:"live"`
	Players        int    `json:"players"`
	BytesIn        uint64 `json:"bytes_in"`
	MessagesIn     uint64 `json:"messages_in"`
	BytesOut       uint64 `json:"bytes_out"`
	WireLogBytes   uint64 `json:"wire_log_bytes"`
	GOPBytes       uint64 `json:"gop_bytes"`
	Keyframes      uint64 `json:"keyframes"`
	Skips          uint64 `json:"skips"`
	SlowDrops      uint64 `json:"slow_drops"`
	Publishes      uint64 `json:"publishes"`
	PlayerJoins    uint64 `json:"player_joins"`
	VideoCodec     string `json:"video_codec,omitempty"`
	AudioCodec     string `json:"audio_codec,omitempty"`
	MeanFirstFrame string `json:"mean_time_to_first_frame,omitempty"`
}

func streamRows(hub *fanout.Hub) []streamRow {
	out := []streamRow{}
	for _, s := range hub.Streams() {
		st := s.Stats()
		r := streamRow{Stream: s.Key(), Live: s.Live(), Players: s.PlayerCount(),
			BytesIn: st.BytesIn.Load(), MessagesIn: st.MessagesIn.Load(), BytesOut: st.BytesOut.Load(),
			WireLogBytes: s.Head(), GOPBytes: s.GOPBytes(), Keyframes: st.Keyframes.Load(),
			Skips: st.Skips.Load(), SlowDrops: st.SlowDrops.Load(), Publishes: st.Publishes.Load(),
			PlayerJoins: st.PlayersTotal.Load()}
		r.VideoCodec, r.AudioCodec = s.Codecs()
		if r.PlayerJoins > 0 {
			// Approximate: joins not yet started are in the count, not the sum.
			r.MeanFirstFrame = (time.Duration(st.FirstFrameNanosTotal.Load()) / time.Duration(r.PlayerJoins)).String()
		}
		out = append(out, r)
	}
	return out
}

// connRow is one connection in /api/connections. Bytes come from the kernel
// (eBPF) when the probes run and have seen the socket, else from the
// server's own counters; Source says which.
type connRow struct {
	ID               uint64    `json:"id"`
	Role             string    `json:"role"`
	Protocol         string    `json:"protocol"`
	Stream           string    `json:"stream"`
	Peer             string    `json:"peer"`
	Target           string    `json:"target,omitempty"` // a pull's origin, a forward's target (redacted)
	Cookie           uint64    `json:"cookie,omitempty"`
	Since            time.Time `json:"since"`
	Source           string    `json:"source"`
	BytesSent        uint64    `json:"bytes_sent"`
	BytesReceived    uint64    `json:"bytes_received"`
	SendRate         float64   `json:"send_bytes_per_second"`
	ReceiveRate      float64   `json:"receive_bytes_per_second"`
	Interval         float64   `json:"interval_seconds"`
	AppBytesSent     uint64    `json:"app_bytes_sent"`
	AppBytesReceived uint64    `json:"app_bytes_received"`
	// Kernel-only figures, absent without eBPF.
	SRTT        *float64 `json:"srtt_seconds,omitempty"`
	Retransmits *uint64  `json:"retransmits,omitempty"`
	SendQueue   *uint32  `json:"send_queue_bytes,omitempty"`
	Cwnd        *uint32  `json:"cwnd_segments,omitempty"`
}

// minRateInterval is the shortest window a throughput is computed over, so
// two requests in quick succession do not report noise.
const minRateInterval = time.Second

// connSampler joins the hub's connections with the kernel's figures and
// computes each one's throughput over the last interval: from the previous
// sample at least minRateInterval old (or from the connection's start) to
// now. It is shared by /api/connections and the per-connection collector.
type connSampler struct {
	hub     *fanout.Hub
	figures bpf.Source

	mu   sync.Mutex
	hist map[uint64]*rateWindow // by session id
}

// rateWindow holds the two samples a throughput is taken between.
type rateWindow struct {
	prev, last rateSample
	seen       bool
}

type rateSample struct {
	t          time.Time
	sent, recv uint64
}

func newConnSampler(hub *fanout.Hub, figures bpf.Source) *connSampler {
	return &connSampler{hub: hub, figures: figures, hist: map[uint64]*rateWindow{}}
}

// sample returns every connection's row at now.
func (c *connSampler) sample(now time.Time) []connRow {
	conns := c.hub.Conns()
	rows := make([]connRow, 0, len(conns))
	kernel := c.kernelFigures()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ci := range conns {
		r := connRow{ID: ci.ID, Role: ci.Role, Protocol: ci.Protocol, Stream: ci.Stream, Peer: ci.Peer, Target: ci.Target, Cookie: ci.Cookie, Since: ci.Since,
			Source: "app", BytesSent: ci.BytesSent, BytesReceived: ci.BytesReceived,
			AppBytesSent: ci.BytesSent, AppBytesReceived: ci.BytesReceived}
		if s, ok := kernel[ci.Cookie]; ok && ci.Cookie != 0 {
			srtt := s.SRTT.Seconds()
			r.Source, r.BytesSent, r.BytesReceived = "kernel", s.BytesSent, s.BytesReceived
			r.SRTT, r.Retransmits, r.SendQueue, r.Cwnd = &srtt, &s.Retransmits, &s.SendQueue, &s.Cwnd
		}
		c.rate(&r, now)
		rows = append(rows, r)
	}
	c.forget(conns)
	return rows
}

// kernelFigures reads every socket's kernel figures once, by cookie; empty
// without a source of socket figures.
func (c *connSampler) kernelFigures() map[uint64]bpf.SocketStats {
	all, _ := bpf.Sockets(c.figures) // an error leaves the rows with the app's figures
	out := make(map[uint64]bpf.SocketStats, len(all))
	for _, s := range all {
		out[s.Cookie] = s
	}
	return out
}

// rate fills r's throughput and rolls its window. Called with c.mu held.
func (c *connSampler) rate(r *connRow, now time.Time) {
	w := c.hist[r.ID]
	if w == nil {
		start := rateSample{t: r.Since}
		w = &rateWindow{prev: start, last: start}
		c.hist[r.ID] = w
	}
	cur := rateSample{t: now, sent: r.BytesSent, recv: r.BytesReceived}
	if now.Sub(w.last.t) >= minRateInterval || !w.seen {
		w.prev, w.last, w.seen = w.last, cur, true
	}
	d := now.Sub(w.prev.t).Seconds()
	if d <= 0 || cur.sent < w.prev.sent || cur.recv < w.prev.recv {
		return // the source switched from app to kernel counters: no rate this time
	}
	r.Interval = d
	r.SendRate = float64(cur.sent-w.prev.sent) / d
	r.ReceiveRate = float64(cur.recv-w.prev.recv) / d
}

// forget drops the windows of connections that are gone. Called with c.mu
// held.
func (c *connSampler) forget(conns []fanout.ConnInfo) {
	if len(c.hist) == len(conns) {
		return
	}
	live := make(map[uint64]bool, len(conns))
	for _, ci := range conns {
		live[ci.ID] = true
	}
	for id := range c.hist {
		if !live[id] {
			delete(c.hist, id)
		}
	}
}
