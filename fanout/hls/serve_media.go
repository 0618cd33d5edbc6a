package hls

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// wait holds the caller until ok (checked with m.mu held) is true, the
// limit passes, the client leaves or the remuxer stops. Call it without
// m.mu; it returns with m.mu held and whether ok came true.
func (m *remuxer) wait(r *http.Request, limit time.Duration, ok func() bool) bool {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	m.mu.Lock()
	for !ok() {
		wake := m.wake
		m.mu.Unlock()
		select {
		case <-wake:
		case <-timer.C:
			m.mu.Lock()
			return ok()
		case <-r.Context().Done():
			m.mu.Lock()
			return false
		case <-m.done:
			m.mu.Lock()
			return false
		}
		m.mu.Lock()
	}
	return true
}

// startupLimit bounds the wait for a new remuxer's first segment: a GOP
// of up to a few seconds after the keyframe it waits for.
func (m *remuxer) startupLimit() time.Duration {
	return 2*m.seg.cfg.SegmentTarget + 5*time.Second
}

// playlist answers a playlist request, blocking (msn ≥ 0) until segment
// msn — or its part, part ≥ 0 — exists; query follows every URI listed.
// An answer other than 200 comes with why, for the body.
func (m *remuxer) playlist(r *http.Request, msn int64, part int, query string) (body []byte, code int, why string) {
	limit := m.startupLimit()
	if !m.wait(r, limit, m.seg.ready) {
		m.mu.Unlock()
		return nil, http.StatusServiceUnavailable, m.unavailable(fmt.Sprintf("no complete segment within %s (is the publisher sending keyframes?)", limit))
	}
	if msn >= 0 {
		if m.seg.tooFar(uint64(msn), part) {
			m.mu.Unlock()
			return nil, http.StatusBadRequest, "_HLS_msn/_HLS_part is too far ahead of the newest part"
		}
		limit := m.seg.blockLimit()
		m.mu.Unlock()
		if !m.wait(r, limit, func() bool { return m.seg.has(uint64(msn), part) }) {
			m.mu.Unlock()
			return nil, http.StatusServiceUnavailable, m.unavailable(fmt.Sprintf("the requested part was not cut within %s", limit))
		}
	}
	defer m.mu.Unlock()
	if m.cachedV != m.version || m.cached == nil || m.cachedQ != query {
		m.cached, m.cachedV, m.cachedQ = m.seg.render(m.epoch, query), m.version, query
	}
	return m.cached, http.StatusOK, ""
}

// unavailable is the reason of a 503: the stream's state when that says
// more (its publisher gone, within the grace it is waited for; the server
// stopping), else what was waited for in vain.
func (m *remuxer) unavailable(waited string) string {
	key := m.stream.Key()
	select {
	case <-m.done:
		return "stream " + key + ": HLS remuxer stopped (server shutting down or stream ended)"
	default:
	}
	if left, ok := m.stream.GraceLeft(); ok {
		return fmt.Sprintf("stream %s: publisher gone, waiting up to %s for it to return", key, left.Round(time.Second))
	}
	return "stream " + key + ": " + waited
}

// retryAfter is the Retry-After of a 503, in seconds: a target duration,
// by when a returning publisher has a segment out again.
func (m *remuxer) retryAfter() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strconv.Itoa(m.seg.targetDuration())
}

// serveMedia serves an init segment, a segment or a part, and reports
// whether it was found. A part not cut yet but next in line (the preload
// hint) is waited for.
func (m *remuxer) serveMedia(w http.ResponseWriter, r *http.Request, file string) bool {
	body, found := m.media(r, file)
	if !found {
		fail(w, http.StatusNotFound, "no such segment (it may have left the window)")
		return false
	}
	n := 0
	for _, b := range body {
		n += len(b)
	}
	h := w.Header()
	h.Set("Content-Type", m.seg.contentType())
	h.Set("Cache-Control", cacheMedia)
	h.Set("Content-Length", strconv.Itoa(n))
	for _, b := range body {
		if _, err := w.Write(b); err != nil {
			break
		}
	}
	return true
}

// media returns the pieces of a file's body: parts are never changed
// once cut, so they are written after the lock is released.
func (m *remuxer) media(r *http.Request, file string) ([][]byte, bool) {
	if rest, ok := strings.CutPrefix(file, "init-"+m.epoch+"-"); ok {
		id, err := strconv.Atoi(strings.TrimSuffix(rest, ".mp4"))
		if err != nil || !strings.HasSuffix(rest, ".mp4") {
			return nil, false
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		b, ok := m.seg.initData(id)
		return [][]byte{b}, ok
	}
	rest, ok := strings.CutPrefix(file, m.epoch+"-")
	if !ok || !strings.HasSuffix(rest, m.seg.ext()) {
		return nil, false
	}
	rest = strings.TrimSuffix(rest, m.seg.ext())
	ms, ps, isPart := strings.Cut(rest, ".")
	msn, err := strconv.ParseUint(ms, 10, 64)
	if err != nil {
		return nil, false
	}
	p := -1
	if isPart {
		if p, err = strconv.Atoi(ps); err != nil || p < 0 {
			return nil, false
		}
	}
	m.mu.Lock()
	if m.seg.ready() && !m.seg.has(msn, p) && !m.seg.tooFar(msn, p) {
		limit := m.seg.blockLimit()
		m.mu.Unlock()
		m.wait(r, limit, func() bool { return m.seg.has(msn, p) })
	}
	defer m.mu.Unlock()
	return m.seg.mediaData(msn, p)
}

// initData returns init segment id if a held segment still uses it.
func (s *segmenter) initData(id int) ([]byte, bool) {
	if s.cfg.Format == FormatTS {
		return nil, false
	}
	if s.init != nil && s.init.id == id {
		return s.init.data, true
	}
	for _, g := range s.segments {
		if g.init != nil && g.init.id == id {
			return g.init.data, true
		}
	}
	return nil, false
}

// mediaData returns segment msn (p < 0) — its parts — or its part p.
func (s *segmenter) mediaData(msn uint64, p int) ([][]byte, bool) {
	g := s.find(msn)
	switch {
	case g == nil:
		return nil, false
	case p < 0 && g.complete:
		out := make([][]byte, len(g.parts))
		for i, pt := range g.parts {
			out[i] = pt.data
		}
		return out, true
	case p >= 0 && p < len(g.parts):
		return [][]byte{g.parts[p].data}, true
	}
	return nil, false
}
