package hls

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/fanout"
)

// Content types and cache lifetimes. Segment, part and init names are
// never reused (the epoch changes with every remuxer run), so a cache
// may keep them as long as it likes; playlists change with every part.
const (
	typePlaylist  = "application/vnd.apple.mpegurl"
	typeMedia     = "video/mp4"
	cacheMedia    = "public, max-age=86400, immutable"
	cachePlaylist = "no-cache"
)

// Server is the HLS http.Handler of a hub's streams. It starts a stream's
// remuxer on its first playlist request (or at once for every live stream
// with Config.Always) and stops it after Config.IdleTimeout without one.
type Server struct {
	// NextID numbers the viewers of protected streams (their hooks'
	// client_id) from the RTMP server's sequence (rtmp.Server.NextID);
	// nil leaves them 0. Set it before serving.
	NextID func() uint64

	hub *fanout.Hub
	cfg Config
	log *slog.Logger

	caps     *capSigner  // protected streams' segment capabilities
	sessions sessions    // protected streams' viewers (access.go)
	refusals *refusalLog // per-request refusals, rate-limited
	unlist   func()      // takes the sessions off the hub's connection list

	mu       sync.Mutex
	remuxers map[string]*remuxer
	closed   bool
	done     chan struct{}
	wg       sync.WaitGroup

	// Totals, kept across remuxers.
	requests      [numKinds]atomic.Uint64
	refused       atomic.Uint64 // 4xx and 503 answers
	droppedGone   atomic.Uint64 // drops of remuxers already stopped
	remuxersTotal atomic.Uint64
}

// Request kinds counted by Stats.
const (
	KindPlaylist = iota // plain playlist requests
	KindBlocking        // blocking reloads (_HLS_msn)
	KindInit
	KindSegment
	KindPart
	numKinds
)

// KindNames name the request kinds, for metric labels.
var KindNames = [numKinds]string{"playlist", "blocking", "init", "segment", "part"}

// NewServer returns the HLS handler of hub's streams; cfg's zero fields
// take their defaults.
func NewServer(hub *fanout.Hub, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	s := &Server{hub: hub, cfg: cfg, log: log, remuxers: map[string]*remuxer{}, done: make(chan struct{}),
		caps: newCapSigner(), refusals: &refusalLog{log: log, interval: time.Second}}
	s.wg.Add(1)
	go s.janitor()
	s.unlist = hub.AddConnSource(s)
	return s, nil
}

// Config is the server's effective configuration.
func (s *Server) Config() Config { return s.cfg }

// Close stops every remuxer; requests still waiting get 503.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	rs := s.remuxers
	s.remuxers = map[string]*remuxer{}
	s.mu.Unlock()
	s.wg.Wait()
	for _, m := range rs {
		s.retire(m, "shutdown")
	}
	s.unlist()
	s.sessions.sweep(time.Now(), -1)
}

// Stats are the server's figures.
type Stats struct {
	Remuxers      int              // streams being remuxed now
	RemuxersTotal uint64           // remuxers ever started
	Dropped       uint64           // messages dropped because a remuxer fell behind
	Requests      [numKinds]uint64 // answered requests by kind (KindNames)
	Refused       uint64           // requests answered 4xx or 503
	Sessions      int              // admitted viewers of protected streams now
}

// Stats returns the server's totals.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := Stats{Remuxers: len(s.remuxers), Dropped: s.droppedGone.Load()}
	for _, m := range s.remuxers {
		st.Dropped += m.dropped.Load()
	}
	s.mu.Unlock()
	st.RemuxersTotal = s.remuxersTotal.Load()
	for k := range st.Requests {
		st.Requests[k] = s.requests[k].Load()
	}
	st.Refused = s.refused.Load()
	st.Sessions = s.sessions.len()
	return st
}

// retire stops a remuxer removed from the map and keeps its drops.
// retire stops m and says why in the log: an edge's pull, say, lasts as
// long as its remuxer plus the linger, so the end is worth a line as the
// start is.
func (s *Server) retire(m *remuxer, why string) {
	m.stop()
	s.log.Info("hls remuxer stopped", "stream", m.stream.Key(), "epoch", m.epoch, "why", why)
	s.droppedGone.Add(m.dropped.Load())
}

// janitor stops remuxers whose stream is gone or that nobody asked for
// in a while, and with Config.Always starts one for every live stream.
func (s *Server) janitor() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			s.sweep(now)
			s.sessions.sweep(now, s.cfg.SessionIdle)
		}
	}
}

func (s *Server) sweep(now time.Time) {
	type retiring struct {
		m   *remuxer
		why string
	}
	var stale []retiring
	s.mu.Lock()
	for key, m := range s.remuxers {
		why := ""
		switch {
		case m.stream.Removed() || s.hub.Stream(key) != m.stream:
			why = "stream ended"
		case !s.cfg.Always && m.idle(now, s.cfg.IdleTimeout):
			why = "idle"
		default:
			continue
		}
		stale = append(stale, retiring{m, why})
		delete(s.remuxers, key)
	}
	s.mu.Unlock()
	for _, r := range stale {
		s.retire(r.m, r.why)
	}
	if s.cfg.Always {
		for _, st := range s.hub.Streams() {
			if st.Live() {
				s.remuxer(st.Key(), true)
			}
		}
	}
}

// remuxer returns key's remuxer; with start, one is started for a live
// stream that has none (or whose stream was replaced).
func (s *Server) remuxer(key string, start bool) *remuxer {
	st := s.hub.Stream(key)
	if st == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.remuxers[key]
	if m != nil && m.stream == st {
		return m
	}
	if !start || s.closed || !st.Live() {
		return nil
	}
	if m != nil {
		go s.retire(m, "stream replaced")
	}
	m = newRemuxer(st, s.cfg, s.log)
	s.remuxers[key] = m
	s.remuxersTotal.Add(1)
	s.log.Info("hls remuxer started", "stream", key, "epoch", m.epoch)
	return m
}

// ServeHTTP serves /APP/NAME/FILE.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Range")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		h.Set("Allow", "GET, HEAD, OPTIONS")
		s.fail(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	key, file, ok := splitPath(r.URL.Path)
	if !ok {
		s.fail(w, http.StatusNotFound, "not an HLS path (want /APP/NAME/index.m3u8)")
		return
	}
	gated := s.hub.AccessActive()
	if file == "index.m3u8" {
		if gated {
			s.serveProtectedPlaylist(w, r, key)
			return
		}
		s.servePlaylist(w, r, key, "")
		return
	}
	if gated && !s.mediaAllowed(w, r, key) {
		return
	}
	m := s.remuxer(key, false)
	if m == nil {
		s.fail(w, http.StatusNotFound, "no HLS for this stream (request index.m3u8 first)")
		return
	}
	m.touch()
	kind := KindPart
	switch {
	case strings.HasPrefix(file, "init-"):
		kind = KindInit
	case strings.Count(file, ".") == 1:
		kind = KindSegment
	}
	if m.serveMedia(w, r, file) {
		s.requests[kind].Add(1)
	} else {
		s.refused.Add(1)
	}
}

// fail answers an error and counts it.
func (s *Server) fail(w http.ResponseWriter, code int, msg string) {
	s.refused.Add(1)
	fail(w, code, msg)
}

// splitPath splits "/app/name/file" into "app/name" and "file".
func splitPath(p string) (key, file string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", false
	}
	return parts[0] + "/" + parts[1], parts[2], true
}

func fail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Cache-Control", "no-cache")
	http.Error(w, msg, code)
}

// errBadRequest marks a malformed or too-far-ahead blocking request.
var errBadRequest = errors.New("bad request")

// blockingParams reads _HLS_msn and _HLS_part: msn < 0 means a plain
// request, part < 0 a whole segment.
func blockingParams(r *http.Request) (msn int64, part int, err error) {
	q := r.URL.Query()
	ms, ps := q.Get("_HLS_msn"), q.Get("_HLS_part")
	if ms == "" {
		if ps != "" {
			return 0, 0, errBadRequest // _HLS_part without _HLS_msn
		}
		return -1, -1, nil
	}
	msn, err = strconv.ParseInt(ms, 10, 64)
	if err != nil || msn < 0 {
		return 0, 0, errBadRequest
	}
	part = -1
	if ps != "" {
		p, err := strconv.Atoi(ps)
		if err != nil || p < 0 {
			return 0, 0, errBadRequest
		}
		part = p
	}
	return msn, part, nil
}

// servePlaylist answers a media playlist whose URIs carry query ("" or
// "?…").
func (s *Server) servePlaylist(w http.ResponseWriter, r *http.Request, key, query string) {
	msn, part, err := blockingParams(r)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "_HLS_msn and _HLS_part must be non-negative integers, _HLS_part only with _HLS_msn")
		return
	}
	m := s.remuxer(key, true)
	if m == nil {
		s.fail(w, http.StatusNotFound, "stream not live")
		return
	}
	m.touch()
	body, code, why := m.playlist(r, msn, part, query)
	if code != http.StatusOK {
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", m.retryAfter())
		}
		s.fail(w, code, why)
		return
	}
	if msn >= 0 {
		s.requests[KindBlocking].Add(1)
	} else {
		s.requests[KindPlaylist].Add(1)
	}
	h := w.Header()
	h.Set("Content-Type", typePlaylist)
	h.Set("Cache-Control", cachePlaylist)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}
