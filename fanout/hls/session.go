package hls

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/access"
)

// maxSessions bounds the HLS sessions held at once, whatever the limits
// say, so that a client holding a valid token cannot grow the table
// without bound by asking for playlists it never plays.
const maxSessions = 100_000

// sessionIDLen is the length of a session id: 16 random bytes, base64url.
var sessionIDLen = base64.RawURLEncoding.EncodedLen(16)

// session is one admitted HLS viewer: admitted once through the hub on
// its first playlist request, kept alive by its playlist reloads, ended
// (Admission.Done: on_stop, the limits' place released) after
// Config.SessionIdle without one.
type session struct {
	id     uint64 // the viewer's connection id (fanout.Viewer.ID)
	stream string
	remote string // where the first request came from, for the log
	since  time.Time
	adm    *access.Admission
	last   atomic.Int64 // UnixNano of the newest playlist request
	// kicked is set when the control API ended the session: it stays in
	// the table, answered 403, until it idles out like any other.
	kicked atomic.Bool
}

func (s *session) touch(now time.Time) { s.last.Store(now.UnixNano()) }

// sessions is the table of HLS viewers by session id.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessionID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validSessionID reports whether id could be one newSessionID made,
// before it is looked up.
func validSessionID(id string) bool {
	if len(id) != sessionIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// add stores a new session and returns its id, or "" when the table is
// full.
func (t *sessions) add(id uint64, stream, remote string, adm *access.Admission, now time.Time) string {
	ss := &session{id: id, stream: stream, remote: remote, since: now, adm: adm}
	ss.touch(now)
	sid := newSessionID()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= maxSessions {
		return ""
	}
	if t.m == nil {
		t.m = map[string]*session{}
	}
	t.m[sid] = ss
	return sid
}

// get returns the session id names if it is stream's.
func (t *sessions) get(id, stream string) *session {
	if !validSessionID(id) {
		return nil
	}
	t.mu.Lock()
	ss := t.m[id]
	t.mu.Unlock()
	if ss == nil || ss.stream != stream {
		return nil
	}
	return ss
}

// len is the number of sessions held.
func (t *sessions) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// sweep ends the sessions idle for longer than idle (all of them when
// idle < 0).
func (t *sessions) sweep(now time.Time, idle time.Duration) {
	var gone []*session
	t.mu.Lock()
	for id, ss := range t.m {
		if idle < 0 || now.Sub(time.Unix(0, ss.last.Load())) > idle {
			gone = append(gone, ss)
			delete(t.m, id)
		}
	}
	t.mu.Unlock()
	for _, ss := range gone {
		ss.adm.Done()
	}
}

// info is the session as the control API lists it. HLS bytes are not
// counted per viewer: segments are fetched by capability, shared by every
// viewer of the stream (and by a cache in front).
func (ss *session) info() fanout.ConnInfo {
	return fanout.ConnInfo{ID: ss.id, Role: "player", Protocol: fanout.ProtocolHLS, Stream: ss.stream,
		Peer: ss.remote, Since: ss.since}
}

// appendInfos appends the live (not kicked) sessions, oldest first.
func (t *sessions) appendInfos(dst []fanout.ConnInfo) []fanout.ConnInfo {
	t.mu.Lock()
	start := len(dst)
	for _, ss := range t.m {
		if !ss.kicked.Load() {
			dst = append(dst, ss.info())
		}
	}
	t.mu.Unlock()
	added := dst[start:]
	slices.SortFunc(added, func(a, b fanout.ConnInfo) int { return a.Since.Compare(b.Since) })
	return dst
}

// kick ends the live session numbered id: its place in the limits is
// released (on_stop) and its further playlist requests are refused.
func (t *sessions) kick(id uint64) (fanout.ConnInfo, bool) {
	if id == 0 {
		return fanout.ConnInfo{}, false
	}
	t.mu.Lock()
	var victim *session
	for _, ss := range t.m {
		if ss.id == id && !ss.kicked.Load() {
			victim = ss
			break
		}
	}
	t.mu.Unlock()
	if victim == nil || victim.kicked.Swap(true) {
		return fanout.ConnInfo{}, false
	}
	victim.adm.Done()
	return victim.info(), true
}
