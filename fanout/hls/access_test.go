package hls

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/access"
	"github.com/bbllive/bbllive/fanout/hls/hlstest"
	"github.com/bbllive/bbllive/fanout/logtest"
)

const testSecret = "hls-access-secret"

// hookLog is a real hook server that admits everyone and records the
// events it hears.
type hookLog struct {
	mu     sync.Mutex
	events []string // "on_play hls live/a"
	srv    *httptest.Server
}

func newHookLog(t *testing.T) *hookLog {
	h := &hookLog{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Event, Protocol, Stream string }
		json.NewDecoder(r.Body).Decode(&ev)
		h.mu.Lock()
		h.events = append(h.events, ev.Event+" "+ev.Protocol+" "+ev.Stream)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookLog) count(ev string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, e := range h.events {
		if e == ev {
			n++
		}
	}
	return n
}

// protectedRig is a rig whose hub is behind a real access controller.
func protectedRig(t *testing.T, cfg Config, ac access.Config) *rig {
	t.Helper()
	r := newRig(t, cfg)
	gate, err := access.New(ac, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gate.Close)
	r.hub.SetGate(gate)
	return r
}

func mint(t *testing.T, action access.Action, stream string) string {
	t.Helper()
	tk, err := access.Mint(access.MintOptions{Action: action, Stream: stream, TTL: time.Hour, Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// variantOf returns the one variant URI of a multivariant playlist.
func variantOf(t *testing.T, body []byte) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-2], "#EXT-X-STREAM-INF:BANDWIDTH=") {
		t.Fatalf("not a one-variant multivariant playlist:\n%s", body)
	}
	return lines[len(lines)-1]
}

func TestProtectedHLS(t *testing.T) {
	hook := newHookLog(t)
	r := protectedRig(t, Config{SegmentTarget: time.Second, SessionIdle: 2 * time.Second},
		access.Config{Secret: testSecret, HookURL: hook.srv.URL, MaxPlayersPerStream: 1})
	r.publish(t, "a?token="+mint(t, access.Publish, "live/a"), synth.Config{GOP: 25, Audio: true}, 20*time.Second)
	r.waitLive(t, "live/a")

	for _, c := range []struct{ query, status, body string }{
		{"", "401", access.ReasonTokenMissing},
		{"token=" + mint(t, access.Publish, "live/a"), "403", access.ReasonTokenAction},
		{"token=" + mint(t, access.Play, "live/b"), "403", access.ReasonTokenStream},
		{"hls_sid=AAAAAAAAAAAAAAAAAAAAAA", "401", "session is unknown"},
		{"hls_sid=../../x", "401", "session is unknown"},
		{"_HLS_msn=3&token=" + mint(t, access.Play, "live/a"), "400", "hls_sid"},
	} {
		resp, body := r.get(t, "/live/a/index.m3u8?"+c.query)
		if !strings.HasPrefix(resp.Status, c.status) || !strings.Contains(string(body), c.body) {
			t.Errorf("?%.40s: %s %s; want %s with %q", c.query, resp.Status, body, c.status, c.body)
		}
	}

	token := "token=" + mint(t, access.Play, "live/a")
	resp, body := r.get(t, "/live/a/index.m3u8?"+token)
	if resp.StatusCode != 200 {
		t.Fatalf("admitted viewer: %s %s", resp.Status, body)
	}
	checkHeaders(t, resp, typePlaylist, "no-store")
	variant := variantOf(t, body)
	if strings.Contains(variant, "token") || !strings.HasPrefix(variant, "index.m3u8?hls_sid=") {
		t.Fatalf("variant %q: want the session alone, never the token", variant)
	}
	if resp, body := r.get(t, "/live/a/index.m3u8?"+token); resp.StatusCode != http.StatusServiceUnavailable ||
		!strings.Contains(string(body), access.ReasonMaxPlayers) {
		t.Errorf("second viewer with one player allowed: %s %s", resp.Status, body)
	}

	var pl *hlstest.Playlist
	for i := 0; i < 5; i++ { // several reloads: still one viewer
		resp, body = r.get(t, "/live/a/"+variant)
		if resp.StatusCode != 200 {
			t.Fatalf("media playlist: %s %s", resp.Status, body)
		}
		var err error
		if pl, err = hlstest.Parse(body); err != nil {
			t.Fatal(err)
		}
	}
	checkHeaders(t, resp, typePlaylist, "no-cache")
	seg := pl.Segments[0]
	uris := []string{seg.Map, seg.URI, pl.Segments[len(pl.Segments)-1].Parts[0].URI, pl.PreloadHint}
	for _, u := range uris {
		if !strings.Contains(u, "?hls_cap=") {
			t.Fatalf("%q lacks the capability:\n%s", u, body)
		}
	}
	for _, u := range uris[:3] {
		resp, _ := r.get(t, "/live/a/"+u)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", u, resp.Status)
		}
		checkHeaders(t, resp, typeMedia, "immutable")
	}
	bare, capv, _ := strings.Cut(seg.URI, "?hls_cap=")
	i := len(capv) - 5 // a character of the MAC
	tampered := capv[:i] + map[bool]string{true: "B", false: "A"}[capv[i] == 'A'] + capv[i+1:]
	for _, c := range []struct{ path, status string }{
		{"/live/a/" + bare, "401"},
		{"/live/a/" + bare + "?" + token, "401"}, // the token is for the playlist only
		{"/live/a/" + bare + "?hls_cap=" + tampered, "403"},
		{"/live/a/" + bare + "?hls_cap=1." + capv, "403"},
		{"/live/b/" + bare + "?hls_cap=" + capv, "403"}, // another stream's
	} {
		if resp, _ := r.get(t, c.path); !strings.HasPrefix(resp.Status, c.status) {
			t.Errorf("%s: %s; want %s", c.path, resp.Status, c.status)
		}
	}

	if n := hook.count("on_play hls live/a"); n != 1 {
		t.Errorf("%d on_play for one HLS viewer, want 1 (%v)", n, hook.events)
	}
	if n := r.hls.Stats().Sessions; n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
	// The viewer goes quiet: its session ends, on_stop is heard once, its
	// place is free for the next viewer, and its session is gone.
	deadline := time.Now().Add(10 * time.Second)
	for hook.count("on_stop hls live/a") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no on_stop after the viewer went idle (%v)", hook.events)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp, _ := r.get(t, "/live/a/"+variant); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("ended session's playlist: %s", resp.Status)
	}
	if resp, body := r.get(t, "/live/a/index.m3u8?"+token); resp.StatusCode != 200 {
		t.Errorf("viewer after the first left: %s %s", resp.Status, body)
	}
	if n := hook.count("on_stop hls live/a"); n != 1 {
		t.Errorf("%d on_stop, want 1", n)
	}
}

// An address list applies to every request, not only the admission: a
// reload that denies an address stops its segments at once.
func TestProtectedHLSAddressLists(t *testing.T) {
	r := newRig(t, Config{SegmentTarget: time.Second})
	gate, err := access.New(access.Config{PlayAllow: "127.0.0.0/8"}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	r.hub.SetGate(gate)
	r.publish(t, "a", synth.Config{GOP: 25}, 10*time.Second)
	r.waitLive(t, "live/a")
	// A HEAD probe is admitted and checked, but holds no place.
	head, err := http.Head(r.http.URL + "/live/a/index.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != 200 || r.hls.Stats().Sessions != 0 {
		t.Errorf("HEAD: %s, %d sessions", head.Status, r.hls.Stats().Sessions)
	}
	_, body := r.get(t, "/live/a/index.m3u8")
	resp, body := r.get(t, "/live/a/"+variantOf(t, body))
	pl, err := hlstest.Parse(body)
	if err != nil {
		t.Fatalf("%s %v\n%s", resp.Status, err, body)
	}
	if resp, _ := r.get(t, "/live/a/"+pl.Segments[0].URI); resp.StatusCode != 200 {
		t.Fatalf("allowed address: %s", resp.Status)
	}
	if err := gate.Reload(access.Config{PlayDeny: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if resp, body := r.get(t, "/live/a/"+pl.Segments[0].URI); resp.StatusCode != http.StatusForbidden ||
		!strings.Contains(string(body), access.ReasonIPDenied) {
		t.Errorf("denied address: %s %s", resp.Status, body)
	}
}

// A controller with nothing configured changes nothing: the playlist is
// the media playlist, its URIs bare.
func TestHLSWithoutAccessUnchanged(t *testing.T) {
	r := protectedRig(t, Config{SegmentTarget: time.Second}, access.Config{})
	r.publish(t, "a", synth.Config{GOP: 25}, 5*time.Second)
	r.waitLive(t, "live/a")
	resp, body := r.get(t, "/live/a/index.m3u8")
	pl, err := hlstest.Parse(body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s %v\n%s", resp.Status, err, body)
	}
	if strings.Contains(string(body), "?") || strings.Contains(string(body), "STREAM-INF") {
		t.Errorf("access off, yet the playlist changed:\n%s", body)
	}
	if resp, _ := r.get(t, "/live/a/"+pl.Segments[0].URI); resp.StatusCode != 200 {
		t.Errorf("segment: %s", resp.Status)
	}
}

func TestCapability(t *testing.T) {
	c, other := newCapSigner(), newCapSigner()
	now := time.Unix(1_800_000_030, 0)
	cv := c.mint("live/a", now)
	if cv != c.mint("live/a", now.Add(20*time.Second)) {
		t.Error("two viewers in one minute get different capabilities: a cache could not share the segments")
	}
	for _, tc := range []struct {
		name, stream, value string
		at                  time.Time
		want                error
	}{
		{"valid", "live/a", cv, now, nil},
		{"valid a minute on", "live/a", cv, now.Add(time.Minute), nil},
		{"expired", "live/a", cv, now.Add(2 * time.Minute), errCapExpired},
		{"other stream", "live/b", cv, now, errCapInvalid},
		{"other process", "live/a", other.mint("live/a", now), now, errCapInvalid},
		{"missing", "live/a", "", now, errCapMissing},
		{"garbage", "live/a", "x.y", now, errCapInvalid},
		{"moved expiry", "live/a", "9" + cv, now, errCapInvalid},
	} {
		if err := c.verify(tc.stream, tc.value, tc.at); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func FuzzCapability(f *testing.F) {
	c := newCapSigner()
	now := time.Unix(1_800_000_000, 0)
	f.Add(c.mint("live/a", now))
	f.Add("1800000120.AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("-1.")
	f.Add("+5.AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("1800000120.AAAAAAAAAAAAAAAAAAAAAB") // non-zero padding bits
	f.Fuzz(func(t *testing.T, v string) {
		exp, mac, err := parseCap(v)
		if err == nil && (exp <= 0 || len(mac) != macLen) {
			t.Fatalf("%q parsed to %d %x", v, exp, mac)
		}
		if c.verify("live/a", v, now) == nil && v != c.mint("live/a", now) {
			t.Fatalf("forged capability %q accepted", v)
		}
	})
}

func FuzzSessionID(f *testing.F) {
	f.Add(newSessionID())
	f.Add("AAAAAAAAAAAAAAAAAAAAA/")
	f.Add("")
	f.Fuzz(func(t *testing.T, id string) {
		var tab sessions
		if validSessionID(id) && len(id) != sessionIDLen {
			t.Fatalf("%q accepted", id)
		}
		if tab.get(id, "live/a") != nil {
			t.Fatalf("%q found in an empty table", id)
		}
	})
}

// A burst of refusals is one log line; the next interval's line counts
// the ones left out.
func TestRefusalLogRateLimited(t *testing.T) {
	var buf logtest.Buffer
	l := &refusalLog{log: slog.New(slog.NewTextHandler(&buf, nil)), interval: 200 * time.Millisecond}
	for i := 0; i < 50; i++ {
		l.refused("/live/a/x.m4s", "127.0.0.1:1", 401, "no capability")
	}
	if n := strings.Count(buf.String(), "hls request refused"); n != 1 {
		t.Fatalf("%d lines for a burst of 50, want 1", n)
	}
	time.Sleep(250 * time.Millisecond)
	l.refused("/live/a/x.m4s", "127.0.0.1:1", 401, "no capability")
	if !strings.Contains(buf.String(), "suppressed_since_last=49") {
		t.Errorf("the second line does not count the 49 left out:\n%s", buf.String())
	}
}

// BenchmarkCapabilityVerify is the cost a protected segment request adds
// (the HMAC over the stream and expiry).
func BenchmarkCapabilityVerify(b *testing.B) {
	c := newCapSigner()
	now := time.Now()
	v := c.mint("live/a", now)
	for b.Loop() {
		if err := c.verify("live/a", v, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAccessActive is the cost every HLS request pays to learn
// whether access control is on (off here).
func BenchmarkAccessActive(b *testing.B) {
	fc := fanout.Config{Flush: fanout.FlushMessage}
	hub := fanout.NewHub(fc, fanout.NewNetpoll(fc), quiet())
	defer hub.Close()
	gate, err := access.New(access.Config{}, quiet())
	if err != nil {
		b.Fatal(err)
	}
	defer gate.Close()
	hub.SetGate(gate)
	for b.Loop() {
		if hub.AccessActive() {
			b.Fatal("active")
		}
	}
}
