// Package web is bbllive's start page: GET / lists the live streams with a
// muted, autoplaying preview of each — played by the project's own small
// MSE script over the stream's live fMP4 (/APP/NAME.mp4), no third-party
// JavaScript — and the URLs to copy for every protocol. /streams.json,
// which the page polls, names streams and their public figures only,
// never a client's address. Everything is embedded in the binary: the page
// works on a machine with no internet.
package web

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bbllive/bbllive/fanout"
)

//go:embed static
var static embed.FS

// Handler serves the page (GET /), its scripts and style (/web/…) and the
// stream list (GET /streams.json).
type Handler struct {
	// Hub is whose streams are listed.
	Hub *fanout.Hub
	// RTMPPort is the port of the RTMP URLs shown ("" leaves them out).
	RTMPPort string
	// HLS says whether /APP/NAME/index.m3u8 is served, to show its URL.
	HLS bool
	// Version is shown in the page's header.
	Version string
	// Hidden lists no stream: for servers where playing needs a
	// credential, whose streams' names are not told to anyone.
	Hidden bool
	// Links are the header's links besides index.txt: what else this
	// listener serves (metrics, the API), or, without Href, a note of
	// where something is served instead.
	Links []Link

	once   sync.Once
	mux    *http.ServeMux
	rates  rateSampler
	static fs.FS
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(h.init)
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) init() {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	h.static = sub
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { h.file(w, r, "index.html") })
	h.mux.HandleFunc("GET /web/{file}", func(w http.ResponseWriter, r *http.Request) { h.file(w, r, r.PathValue("file")) })
	h.mux.HandleFunc("GET /streams.json", h.serveList)
}

// file serves one embedded file; the page is small and changes with the
// binary, so it is revalidated rather than cached.
func (h *Handler) file(w http.ResponseWriter, r *http.Request, name string) {
	if strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, h.static, name)
}

// List is the body of /streams.json.
type List struct {
	Version  string   `json:"version,omitempty"`
	RTMPPort string   `json:"rtmp_port,omitempty"`
	HLS      bool     `json:"hls"`
	Hidden   bool     `json:"hidden,omitempty"`
	Links    []Link   `json:"links"`
	Streams  []Stream `json:"streams"`
}

// Link is one entry of the page's header.
type Link struct {
	Text string `json:"text"`
	Href string `json:"href,omitempty"` // a path on this listener; "": a note, not a link
}

// Stream is one live stream in the list: public figures only.
type Stream struct {
	Stream        string  `json:"stream"` // "app/name"
	Players       int     `json:"players"`
	BitrateKbps   float64 `json:"bitrate_kbps"` // what the publisher sends, over the last seconds
	VideoCodec    string  `json:"video_codec,omitempty"`
	AudioCodec    string  `json:"audio_codec,omitempty"`
	UptimeSeconds float64 `json:"uptime_seconds"` // since its publisher attached
}

func (h *Handler) serveList(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(h.list(time.Now()))
}

// list is the live streams at now.
func (h *Handler) list(now time.Time) List {
	l := List{Version: h.Version, RTMPPort: h.RTMPPort, HLS: h.HLS, Hidden: h.Hidden, Links: h.Links, Streams: []Stream{}}
	if l.Links == nil {
		l.Links = []Link{}
	}
	if h.Hidden {
		return l
	}
	pubs := map[string]fanout.ConnInfo{}
	for _, c := range h.Hub.Conns() {
		if c.Ingest { // a local publisher, or an edge's pull: live here either way
			pubs[c.Stream] = c
		}
	}
	live := map[string]bool{}
	for _, s := range h.Hub.Streams() {
		pub, ok := pubs[s.Key()]
		if !ok {
			continue // no publisher now: not live
		}
		live[s.Key()] = true
		r := Stream{Stream: s.Key(), Players: s.PlayerCount(), UptimeSeconds: now.Sub(pub.Since).Seconds(),
			BitrateKbps: h.rates.kbps(s.Key(), s.Stats().BytesIn.Load(), pub, now)}
		r.VideoCodec, r.AudioCodec = s.Codecs()
		l.Streams = append(l.Streams, r)
	}
	h.rates.forget(live)
	return l
}

// rateSampler turns a stream's byte counter into a bitrate over windows of
// at least rateWindow, so that two requests in a row do not report noise.
// A publish it has not seen yet gets its average since it attached, so
// the first answer about a stream live for a while is already its rate.
type rateSampler struct {
	mu   sync.Mutex
	last map[string]*rateSample
}

type rateSample struct {
	since time.Time // the publisher's attach: a new one starts over
	t     time.Time
	bytes uint64
	kbps  float64
}

const rateWindow = 2 * time.Second

// kbps is the bitrate of stream key, whose byte counter is at bytes and
// whose publisher is pub (its Since and the BytesReceived since then).
func (r *rateSampler) kbps(key string, bytes uint64, pub fanout.ConnInfo, now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[string]*rateSample{}
	}
	s := r.last[key]
	if s == nil || bytes < s.bytes || !s.since.Equal(pub.Since) {
		s = &rateSample{since: pub.Since, t: now, bytes: bytes, kbps: rate(pub.BytesReceived, now.Sub(pub.Since))}
		r.last[key] = s
		return s.kbps
	}
	if d := now.Sub(s.t); d >= rateWindow {
		s.kbps = rate(bytes-s.bytes, d)
		s.t, s.bytes = now, bytes
	}
	return s.kbps
}

// rate is n bytes over d in kbit/s; 0 over no time.
func rate(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) * 8 / 1000 / d.Seconds()
}

// forget drops the samples of streams no longer live.
func (r *rateSampler) forget(live map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.last {
		if !live[k] {
			delete(r.last, k)
		}
	}
}
