package hls

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/access"
)

// While access control is on (fanout.Hub.AccessActive), a viewer goes
// through three kinds of request:
//
//  1. index.m3u8?token=… (the URL the user was given): admitted through
//     Hub.Admit once, as one viewer (hooks, limits, lists, token), it is
//     answered with a one-variant multivariant playlist whose variant is
//     index.m3u8?hls_sid=SESSION. Every player (hls.js, Safari, ffmpeg,
//     VLC) follows a variant and reloads that URL from then on, so the
//     server recognises the viewer's reloads without a cookie or a
//     redirect.
//  2. index.m3u8?hls_sid=SESSION[&_HLS_msn=…]: the media playlist, its
//     session kept alive; its URIs carry ?hls_cap=CAPABILITY.
//  3. init, segments, parts ?hls_cap=…: a capability is per stream and per
//     minute, not per viewer, so a cache in front shares the segments
//     among all viewers; it is checked (stream, expiry, the play address
//     lists) without a lookup.

// bandwidthHint is the BANDWIDTH of the one variant: required by the
// spec, and meaningless with one variant (players pick it whatever it
// says); 2 Mbit/s is an ordinary live stream.
const bandwidthHint = 2_000_000

// serveProtectedPlaylist answers index.m3u8 while access control is on.
func (s *Server) serveProtectedPlaylist(w http.ResponseWriter, r *http.Request, key string) {
	q := r.URL.Query()
	if id := q.Get(sessionParam); id != "" {
		ss := s.sessions.get(id, key)
		if ss == nil {
			s.refuse(w, r, http.StatusUnauthorized, "the HLS session is unknown or has ended: request the playlist with its token again")
			return
		}
		if ss.kicked.Load() {
			s.refuse(w, r, http.StatusForbidden, "the HLS session was ended by the control API")
			return
		}
		if err := s.hub.CheckAddress(access.Play, r.RemoteAddr); err != nil {
			s.refuse(w, r, access.HTTPStatusOf(err), err.Error())
			return
		}
		ss.touch(time.Now())
		s.servePlaylist(w, r, key, "?"+capParam+"="+s.caps.mint(key, time.Now()))
		// A blocking reload or a new remuxer's first segment may have held
		// the request for seconds: the viewer was there all along.
		ss.touch(time.Now())
		return
	}
	if q.Has("_HLS_msn") {
		s.refuse(w, r, http.StatusBadRequest, "a blocking reload needs the session of the playlist it follows (hls_sid)")
		return
	}
	s.admitViewer(w, r, key)
}

// admitViewer admits a new viewer and answers the multivariant playlist
// that leads it to its session.
func (s *Server) admitViewer(w http.ResponseWriter, r *http.Request, key string) {
	app, name, _ := strings.Cut(key, "/")
	v := fanout.Viewer{App: app, Name: name, Query: r.URL.RawQuery, Remote: r.RemoteAddr, Protocol: access.ProtoHLS}
	if s.NextID != nil {
		v.ID = s.NextID()
	}
	// Access first, so that a client without a credential does not learn
	// whether the stream exists. The controller logs its refusals.
	adm, err := s.hub.Admit(r.Context(), v.Request(access.Play))
	if err != nil {
		s.refused.Add(1)
		fail(w, access.HTTPStatusOf(err), err.Error())
		return
	}
	// Then the hub's play wait, as for every protocol: on an edge this is
	// also what starts the pull, so only admitted viewers start one.
	if err := s.hub.AwaitPublisher(r.Context(), key); err != nil {
		adm.Done()
		s.fail(w, http.StatusNotFound, "stream not live")
		return
	}
	m := s.remuxer(key, true)
	if m == nil {
		adm.Done()
		s.fail(w, http.StatusNotFound, "stream not live")
		return
	}
	m.touch()
	if r.Method == http.MethodHead { // a probe, not a viewer: no session
		adm.Done()
		h := w.Header()
		h.Set("Content-Type", typePlaylist)
		h.Set("Cache-Control", "private, no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	id := s.sessions.add(v.ID, key, r.RemoteAddr, adm, time.Now())
	if id == "" {
		adm.Done()
		s.refuse(w, r, http.StatusServiceUnavailable, "too many HLS sessions")
		return
	}
	body := fmt.Sprintf("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=%d\nindex.m3u8?%s=%s\n",
		bandwidthHint, sessionParam, id)
	s.requests[KindPlaylist].Add(1)
	h := w.Header()
	h.Set("Content-Type", typePlaylist)
	// The session is this viewer's alone: no cache may keep or share it.
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write([]byte(body))
}

// mediaAllowed checks an init segment's, segment's or part's capability
// and the client's address, and answers the refusal if any.
func (s *Server) mediaAllowed(w http.ResponseWriter, r *http.Request, key string) bool {
	err := s.caps.verify(key, r.URL.Query().Get(capParam), time.Now())
	if err != nil {
		code := http.StatusForbidden
		if errors.Is(err, errCapMissing) || errors.Is(err, errCapExpired) {
			code = http.StatusUnauthorized
		}
		s.refuse(w, r, code, err.Error())
		return false
	}
	if err := s.hub.CheckAddress(access.Play, r.RemoteAddr); err != nil {
		s.refuse(w, r, access.HTTPStatusOf(err), err.Error())
		return false
	}
	return true
}

// refuse answers, counts and (rate-limited) logs a refused request.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, why string) {
	s.refusals.refused(r.URL.Path, r.RemoteAddr, code, why)
	s.fail(w, code, why)
}

// AppendConns implements fanout.ConnSource: the viewers of protected
// streams, one per session. Without access control HLS keeps no sessions
// (its requests are anonymous, shared through caches) and lists none.
func (s *Server) AppendConns(dst []fanout.ConnInfo) []fanout.ConnInfo {
	return s.sessions.appendInfos(dst)
}

// Kick implements fanout.ConnSource: the session ends at once (on_stop,
// its place in the limits released), and its playlist requests are
// answered 403 from then on. Segments it already knows the names of stay
// reachable while their capability is valid (a minute or two): a
// capability is the stream's, not the viewer's, so that caches share
// segments, and a viewer without its playlist learns no new ones.
func (s *Server) Kick(id uint64) (fanout.ConnInfo, bool) {
	info, ok := s.sessions.kick(id)
	if ok {
		s.log.Info("hls session kicked", "id", id, "stream", info.Stream, "remote", info.Peer)
	}
	return info, ok
}
