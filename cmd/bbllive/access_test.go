package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/access"
	"github.com/bbllive/bbllive/fanout/logtest"
	"github.com/bbllive/bbllive/rtmp"
)

const (
	testSecret   = "access-test-secret"
	testAPIToken = "api-test-token"
)

// accessEntry is one protocol's way in, for the access matrix: every
// protocol a player can use, each refused in its own way (RTMP: an
// onStatus; HTTP and WebSocket: 401/403 with the refusal in the body,
// before any upgrade).
type accessEntry struct {
	name  string // the subtest's
	proto string // what the hooks and /api/connections call it
	// play plays stream with query from d's source address: nil once
	// media arrives, else the refusal as the client saw it.
	play func(srv *accessServer, d *net.Dialer, stream, query string) error
	// refusedPlay is what a refused play's error contains besides the
	// reason (RTMP: the onStatus code; HTTP: the status).
	refusedPlay func(reason string) string
}

// accessEntries are every way to play; a server they run against is
// started with tlsFlags (RTMPS).
var accessEntries = []accessEntry{
	{name: "rtmp", proto: access.ProtoRTMP,
		play: func(srv *accessServer, d *net.Dialer, stream, query string) error {
			return rtmpPlayOutcomeFrom(d, "rtmp://"+srv.addr+"/"+stream+"?"+query)
		},
		refusedPlay: func(string) string { return rtmp.CodePlayFailed }},
	// RTMPS is RTMP to the hooks and the API: the same session behind TLS.
	{name: "rtmps", proto: access.ProtoRTMP,
		play: func(srv *accessServer, d *net.Dialer, stream, query string) error {
			if srv.rtmps == "" {
				return errors.New("the server has no RTMPS listener: start it with tlsFlags")
			}
			return rtmpPlayOutcomeFrom(d, "rtmps://"+srv.rtmps+"/"+stream+"?"+query)
		},
		refusedPlay: func(string) string { return rtmp.CodePlayFailed }},
	{name: "http-flv", proto: access.ProtoHTTPFLV,
		play: func(srv *accessServer, d *net.Dialer, stream, query string) error {
			return httpPlayOutcomeFrom(d, "http://"+srv.http+"/"+stream+".flv?"+query)
		},
		refusedPlay: httpRefusalStatus},
	{name: "ws-flv", proto: access.ProtoWSFLV,
		play: func(srv *accessServer, d *net.Dialer, stream, query string) error {
			return wsPlayOutcome(d, srv.http, "/"+stream+".flv?"+query)
		},
		refusedPlay: httpRefusalStatus},
	{name: "hls", proto: access.ProtoHLS,
		play: func(srv *accessServer, d *net.Dialer, stream, query string) error {
			return hlsPlayOutcomeFrom(d, "http://"+srv.http+"/"+stream+"/index.m3u8?"+query)
		},
		refusedPlay: httpRefusalStatus},
	{name: "fmp4", proto: access.ProtoFMP4,
		play: func(srv *accessServer, d *net.Dialer, stream, query string) error {
			return httpPlayOutcomeFrom(d, "http://"+srv.http+"/"+stream+".mp4?"+query)
		},
		refusedPlay: httpRefusalStatus},
	{name: "ws-fmp4", proto: fanout.ProtocolWSFMP4,
		play: func(srv *accessServer, d *net.Dialer, stream, query string) error {
			return wsPlayOutcome(d, srv.http, "/"+stream+".mp4?"+query)
		},
		refusedPlay: httpRefusalStatus},
}

// httpRefusalStatus is the status an HTTP player is refused with: 401 when
// its credential is missing or unusable, 503 when a limit is reached, 403
// when it does not allow this.
func httpRefusalStatus(reason string) string {
	switch reason {
	case access.ReasonTokenMissing, access.ReasonTokenInvalid, access.ReasonTokenExpired:
		return "HTTP 401"
	case access.ReasonMaxConnections, access.ReasonMaxPlayers, access.ReasonMaxStreams:
		return "HTTP 503"
	}
	return "HTTP 403"
}

// tokenCase is one row of the token matrix.
type tokenCase struct {
	name   string
	query  func(t *testing.T) string
	stream string // what the client asks for
	want   string // refusal reason, "" for admitted
}

func tokenCases(action access.Action) []tokenCase {
	other := access.Play
	if action == access.Play {
		other = access.Publish
	}
	tok := func(a access.Action, stream string, ttl time.Duration) func(t *testing.T) string {
		return func(t *testing.T) string { return "token=" + tokenFor(t, testSecret, a, stream, ttl) }
	}
	expired := func(t *testing.T) string {
		tk, err := access.Mint(access.MintOptions{Action: action, Stream: "live/x", TTL: time.Minute,
			Secret: []byte(testSecret), Now: time.Now().Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return "token=" + tk
	}
	return []tokenCase{
		{"valid", tok(action, "live/x", time.Hour), "live/x", ""},
		{"valid prefix", tok(action, "live/*", time.Hour), "live/x", ""},
		{"expired", expired, "live/x", access.ReasonTokenExpired},
		{"wrong action", tok(other, "live/x", time.Hour), "live/x", access.ReasonTokenAction},
		{"wrong stream", tok(action, "live/y", time.Hour), "live/x", access.ReasonTokenStream},
		{"missing", func(*testing.T) string { return "" }, "live/x", access.ReasonTokenMissing},
		{"other secret", func(t *testing.T) string {
			return "token=" + tokenFor(t, "not-the-secret", action, "live/x", time.Hour)
		}, "live/x", access.ReasonTokenInvalid},
	}
}

// TestTokensRTMPPublish: real publishes with each kind of token.
func TestTokensRTMPPublish(t *testing.T) {
	eachTransport(t, func(t *testing.T) {
		srv := startAccessServer(t, "-auth-secret", testSecret)
		for _, tc := range tokenCases(access.Publish) {
			t.Run(tc.name, func(t *testing.T) {
				c, err := rtmpPublish("rtmp://" + srv.addr + "/" + tc.stream + "?" + tc.query(t))
				if tc.want == "" {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					c.Close()
					waitFor(t, 5*time.Second, "the publisher to detach", func() bool { return !streamLive(t, srv.http, tc.stream) })
					return
				}
				wantRefusal(t, err, rtmp.CodePublishBadName, tc.want)
			})
		}
		if strings.Contains(srv.logs.String(), testSecret) {
			t.Error("the secret is in the log")
		}
		if !strings.Contains(srv.logs.String(), "access refused") {
			t.Error("no refusal log line")
		}
	})
}

// TestTokensPlay: real plays of a live stream with each kind of token, on
// every protocol of accessEntries.
func TestTokensPlay(t *testing.T) {
	eachTransport(t, func(t *testing.T) {
		srv := startAccessServer(t, append(tlsFlags(t), "-auth-secret", testSecret)...)
		startMetricsPub(t, srv.url("x")+"?token="+tokenFor(t, testSecret, access.Publish, "live/x", time.Hour), 300_000)
		for _, e := range accessEntries {
			for _, tc := range tokenCases(access.Play) {
				t.Run(e.name+"/"+tc.name, func(t *testing.T) {
					err := e.play(srv, defaultDialer, tc.stream, tc.query(t))
					if tc.want == "" {
						if err != nil {
							t.Fatalf("refused: %v", err)
						}
						return
					}
					wantRefusal(t, err, e.refusedPlay(tc.want), tc.want)
				})
			}
		}
		mfs := scrape(t, srv.http)
		if v := mustSeries(t, mfs, "bbllive_access_refused_total", "action=play", "reason=token_expired"); v != float64(len(accessEntries)) {
			t.Errorf("play token_expired counted %v times", v)
		}
	})
}

// TestFFmpegToken: ffmpeg publishes and plays with ?token= in the URL, as
// an encoder is configured; without a token both fail.
func TestFFmpegToken(t *testing.T) {
	clip := testClip(t)
	srv := startAccessServer(t, "-auth-secret", testSecret)
	pubURL := srv.url("ff") + "?token=" + tokenFor(t, testSecret, access.Publish, "live/ff", time.Hour)
	// Refused first: ffmpeg exits with an error.
	if err := ffmpegPublish(t, clip, srv.url("ff"))(); err == nil {
		t.Fatal("ffmpeg published without a token")
	}
	wait := ffmpegPublish(t, clip, pubURL)
	waitFor(t, 10*time.Second, "the stream to go live", func() bool {
		s := srv.logs.String()
		return strings.Contains(s, "publishing") && strings.Contains(s, "stream=live/ff")
	})
	out := filepath.Join(t.TempDir(), "play.flv")
	p := startFFmpegPlayer(t, srv.url("ff")+"?token="+tokenFor(t, testSecret, access.Play, "live/*", time.Hour), out)
	noTok := startFFmpegPlayer(t, srv.url("ff"), filepath.Join(t.TempDir(), "refused.flv"))
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(); err != nil {
		t.Fatal(err)
	}
	if r := ffprobe(t, out); r.videoPackets < clipFPS {
		t.Errorf("the player with a token got %d video packets", r.videoPackets)
	}
	if err := noTok.wait(); err == nil {
		t.Error("ffmpeg played without a token")
	} else if !strings.Contains(err.Error(), "Server error") || !strings.Contains(err.Error(), access.ReasonTokenMissing) {
		t.Errorf("ffmpeg's exit does not report the refusal: %v", err)
	}
	if n := srv.logs.Count("reason=token_missing"); n != 2 {
		t.Errorf("%d token_missing refusals logged, want 2", n)
	}
}

// recordingHook is a real HTTP hook: it answers by stream name — "ok*"
// admits, "no*" refuses, "hang*" never answers — and records the events.
type recordingHook struct {
	*httptest.Server
	mu     sync.Mutex
	events []access.HookEvent
}

func newRecordingHook(t *testing.T) *recordingHook {
	h := &recordingHook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev access.HookEvent
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.events = append(h.events, ev)
		h.mu.Unlock()
		switch {
		case strings.HasPrefix(ev.Name, "no"):
			http.Error(w, "not this one", http.StatusForbidden)
		case strings.HasPrefix(ev.Name, "hang"):
			<-r.Context().Done()
		}
	}))
	t.Cleanup(h.Close)
	return h
}

// snapshot copies the events received so far.
func (h *recordingHook) snapshot() []access.HookEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]access.HookEvent(nil), h.events...)
}

// count is how many event events for stream came by protocol.
func (h *recordingHook) count(event, stream, protocol string) int {
	n := 0
	for _, e := range h.snapshot() {
		if e.Event == event && e.Stream == stream && e.Protocol == protocol {
			n++
		}
	}
	return n
}

// TestHooks: a backend decides every publish and every play, on every
// protocol, through a real hook that accepts, refuses and hangs; each
// event carries what the backend needs to decide; every admitted player's
// on_play is paired with an on_stop when it goes.
func TestHooks(t *testing.T) {
	hook := newRecordingHook(t)
	srv := startAccessServer(t, append(tlsFlags(t), "-hook-url", hook.URL, "-hook-timeout", "300ms", "-hls-segment-target", "500ms", "-hls-session-idle", "1s")...)
	pub, err := rtmpPublish(srv.url("ok1") + "?key=abc")
	if err != nil {
		t.Fatalf("accepted publish: %v", err)
	}
	startMetricsPubOn(t, pub)
	cases := []struct {
		name, stream, want string
	}{
		{"accepted", "ok1", ""},
		{"refused", "no1", access.ReasonHookRefused},
		{"hangs", "hang1", access.ReasonHookFailed},
	}
	publishers := map[string]string{"rtmp": srv.url(""), "rtmps": "rtmps://" + srv.rtmps + "/live/"}
	for proto, base := range publishers {
		for _, tc := range cases {
			t.Run("publish/"+proto+"/"+tc.name, func(t *testing.T) {
				start := time.Now()
				stream := tc.stream
				if tc.want == "" {
					stream = "ok-" + proto // ok1 is live
				}
				c, err := rtmpPublish(base + stream + "?key=" + proto)
				if c != nil {
					c.Close()
				}
				if tc.want == "" {
					if err != nil {
						t.Fatal(err)
					}
					waitFor(t, 5*time.Second, "on_unpublish", func() bool {
						return hook.count(access.EventUnpublish, "live/"+stream, access.ProtoRTMP) == 1
					})
					for _, ev := range hook.snapshot() {
						if ev.Stream == "live/"+stream && (ev.Action != access.Publish || ev.Query != "key="+proto ||
							ev.Protocol != access.ProtoRTMP || !strings.HasPrefix(ev.ClientAddr, "127.0.0.1:") || ev.ClientID == 0) {
							t.Errorf("event %+v", ev)
						}
					}
					return
				}
				wantRefusal(t, err, rtmp.CodePublishBadName, tc.want)
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("took %v with a 300ms hook timeout", d)
				}
			})
		}
	}
	for _, e := range accessEntries {
		for _, tc := range cases {
			t.Run("play/"+e.name+"/"+tc.name, func(t *testing.T) {
				start := time.Now()
				err := e.play(srv, defaultDialer, "live/"+tc.stream, "key=abc")
				if tc.want == "" {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				wantRefusal(t, err, e.refusedPlay(tc.want), tc.want)
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("took %v with a 300ms hook timeout", d)
				}
			})
		}
	}
	// What the backend is told, per protocol (RTMP and RTMPS both say rtmp).
	plays := map[string]int{}
	for _, e := range accessEntries {
		plays[e.proto]++
	}
	for proto, want := range plays {
		if n := hook.count(access.EventPlay, "live/ok1", proto); n != want {
			t.Errorf("%s: %d on_play for the admitted plays, want %d", proto, n, want)
		}
		// The hook refuses at on_connect; on_play never follows.
		if n := hook.count(access.EventPlay, "live/no1", proto); n != 0 {
			t.Errorf("%s: %d on_play after a refused on_connect", proto, n)
		}
		connects := 0
		for _, ev := range hook.snapshot() {
			if ev.Event == access.EventConnect && ev.Action == access.Play && ev.Stream == "live/no1" && ev.Protocol == proto {
				connects++
			}
		}
		if connects != want {
			t.Errorf("%s: %d on_connect for the refused plays, want %d", proto, connects, want)
		}
	}
	for _, ev := range hook.snapshot() {
		if ev.Event != access.EventPlay || ev.Stream != "live/ok1" {
			continue
		}
		if ev.Action != access.Play || ev.App != "live" || ev.Name != "ok1" || ev.Query != "key=abc" ||
			!strings.HasPrefix(ev.ClientAddr, "127.0.0.1:") || ev.ClientID == 0 {
			t.Errorf("%s: event %+v", ev.Protocol, ev)
		}
	}
	// Every admitted player has gone (HLS: after -hls-session-idle); a
	// refused one never had an on_play to pair.
	waitFor(t, 10*time.Second, "an on_stop for every admitted player", func() bool {
		for proto, want := range plays {
			if hook.count(access.EventStop, "live/ok1", proto) != want {
				return false
			}
		}
		return true
	})
	for proto := range plays {
		if n := hook.count(access.EventStop, "live/no1", proto) + hook.count(access.EventStop, "live/hang1", proto); n != 0 {
			t.Errorf("%s: %d on_stop for refused players", proto, n)
		}
	}
	// Paired by client_id: each on_stop ends the on_play of its client.
	started := map[uint64]access.HookEvent{}
	for _, ev := range hook.snapshot() {
		switch {
		case ev.Stream != "live/ok1":
		case ev.Event == access.EventPlay:
			started[ev.ClientID] = ev
		case ev.Event == access.EventStop:
			play, ok := started[ev.ClientID]
			if !ok || play.Protocol != ev.Protocol || play.ClientAddr != ev.ClientAddr || play.Query != ev.Query {
				t.Errorf("on_stop %+v does not match an on_play (%+v)", ev, play)
			}
			delete(started, ev.ClientID)
		}
	}
	pub.Close()
	waitFor(t, 5*time.Second, "on_unpublish", func() bool { return hook.count(access.EventUnpublish, "live/ok1", access.ProtoRTMP) == 1 })
	first := hook.snapshot()[0]
	if first.Event != access.EventConnect || first.Action != access.Publish || first.Query != "key=abc" ||
		first.Protocol != access.ProtoRTMP || !strings.HasPrefix(first.ClientAddr, "127.0.0.1:") || first.App != "live" {
		t.Errorf("first event %+v", first)
	}
	if n := hook.count(access.EventPublish, "live/ok1", access.ProtoRTMP); n != 1 {
		t.Errorf("%d on_publish for the accepted publisher", n)
	}
}

// TestHookUnanswered: a hook that is down, or that never answers, refuses
// every publish and play on every protocol within -hook-timeout
// (fail-closed); with -hook-fail-open it admits them, with a warning.
func TestHookUnanswered(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	down := closed.URL
	closed.Close()
	hanging := newRecordingHook(t) // hangs on streams named hang*
	hooks := []struct{ name, url, stream string }{{"down", down, "x"}, {"hangs", hanging.URL, "hang1"}}
	for _, hook := range hooks {
		for _, failOpen := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fail-open=%v", hook.name, failOpen), func(t *testing.T) {
				opts := append(tlsFlags(t), "-hook-url", hook.url, "-hook-timeout", "300ms")
				if failOpen {
					opts = append(opts, "-hook-fail-open")
				}
				srv := startAccessServer(t, opts...)
				c, err := rtmpPublish(srv.url(hook.stream))
				if !failOpen {
					wantRefusal(t, err, rtmp.CodePublishBadName, access.ReasonHookFailed)
				} else if err != nil {
					t.Fatalf("fail-open publish: %v", err)
				} else {
					startMetricsPubOn(t, c)
				}
				for _, e := range accessEntries {
					start := time.Now()
					err := e.play(srv, defaultDialer, "live/"+hook.stream, "")
					if failOpen {
						if err != nil {
							t.Errorf("%s: fail-open play: %v", e.name, err)
						}
						continue
					}
					if err == nil || !strings.Contains(err.Error(), e.refusedPlay(access.ReasonHookFailed)) ||
						!strings.Contains(err.Error(), access.ReasonHookFailed) {
						t.Errorf("%s: %v; want a %s refusal", e.name, err, access.ReasonHookFailed)
					}
					if d := time.Since(start); d > 3*time.Second {
						t.Errorf("%s: refused after %v with a 300ms hook timeout", e.name, d)
					}
				}
				if failOpen && srv.logs.Count("level=WARN") == 0 {
					t.Error("fail-open admitted without a warning line")
				}
			})
		}
	}
}

// TestIPLists: clients connecting from 127.0.0.2 are refused by a deny
// list and by an allow list that names only 127.0.0.1, publishing over
// RTMP and playing on every protocol, while 127.0.0.1 is admitted; each
// refusal is counted by action and reason.
func TestIPLists(t *testing.T) {
	lists := map[string][]string{
		"deny":  {"-publish-deny", "127.0.0.2", "-play-deny", "127.0.0.3, 127.0.0.2/32"},
		"allow": {"-publish-allow", "127.0.0.1", "-play-allow", "127.0.0.1/32,::1"},
	}
	for name, opts := range lists {
		t.Run(name, func(t *testing.T) {
			srv := startAccessServer(t, append(tlsFlags(t), opts...)...)
			other := dialerFrom(t, "127.0.0.2", srv.addr)
			c, err := rtmpPublishFrom(other, srv.url("ip"))
			if c != nil {
				c.Close()
			}
			wantRefusal(t, err, rtmp.CodePublishBadName, access.ReasonIPDenied)
			c, err = rtmpPublish(srv.url("ip"))
			if err != nil {
				t.Fatalf("publish from 127.0.0.1: %v", err)
			}
			startMetricsPubOn(t, c)
			for _, e := range accessEntries {
				wantRefusal(t, e.play(srv, other, "live/ip", ""), e.refusedPlay(access.ReasonIPDenied), access.ReasonIPDenied)
				if err := e.play(srv, defaultDialer, "live/ip", ""); err != nil {
					t.Errorf("%s from 127.0.0.1: %v", e.name, err)
				}
			}
			mfs := scrape(t, srv.http)
			if v := mustSeries(t, mfs, "bbllive_access_refused_total", "action=publish", "reason=ip_denied"); v != 1 {
				t.Errorf("publish ip_denied counted %v times, want 1", v)
			}
			if v := mustSeries(t, mfs, "bbllive_access_refused_total", "action=play", "reason=ip_denied"); v != float64(len(accessEntries)) {
				t.Errorf("play ip_denied counted %v times, want %d", v, len(accessEntries))
			}
			if n := srv.logs.Count("reason=ip_denied"); n < 1+len(accessEntries) || !strings.Contains(srv.logs.String(), "127.0.0.2:") {
				t.Errorf("%d ip_denied lines, or none names 127.0.0.2", n)
			}
		})
	}
}

// startMetricsPubOn sends a synthetic stream on an already published
// client until the test ends.
func startMetricsPubOn(t *testing.T, c *rtmp.Client) *metricsPub {
	p := &metricsPub{c: c, quit: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { p.stop(); c.Close() })
	go func() { defer close(p.done); p.err = p.run(300_000) }()
	return p
}

// TestTakeover: with -publish-takeover, a publisher that presents the live
// one's credentials (its token, or with none its address) replaces it, as
// a reconnecting encoder does; another credential — even one the server
// admits — is refused and the live publisher keeps its stream.
func TestTakeover(t *testing.T) {
	cases := []struct {
		name    string
		opts    []string
		live    string                                      // the live publisher's query
		refused func(t *testing.T, srv *accessServer) error // publishes with other credentials
		same    string                                      // the reconnecting publisher's query
	}{
		{"token", []string{"-auth-secret", testSecret}, "token=" + tokenFor(t, testSecret, access.Publish, "live/t", time.Hour),
			func(t *testing.T, srv *accessServer) error {
				return publishOnce(srv.url("t") + "?token=" + tokenFor(t, testSecret, access.Publish, "live/*", time.Hour))
			}, "token=" + tokenFor(t, testSecret, access.Publish, "live/t", time.Hour)},
		{"key", nil, "key=k1",
			func(t *testing.T, srv *accessServer) error { return publishOnce(srv.url("t") + "?key=k2") }, "key=k1"},
		{"no credentials", nil, "",
			func(t *testing.T, srv *accessServer) error {
				c, err := rtmpPublishFrom(dialerFrom(t, "127.0.0.2", srv.addr), srv.url("t"))
				if c != nil {
					c.Close()
				}
				return err
			}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startAccessServer(t, append(tc.opts, "-publish-takeover")...)
			c, err := rtmpPublish(srv.url("t") + "?" + tc.live)
			if err != nil {
				t.Fatal(err)
			}
			live := startMetricsPubOn(t, c)
			if err := tc.refused(t, srv); err == nil || !strings.Contains(err.Error(), rtmp.CodePublishBadName) {
				t.Fatalf("another credential: %v; want %s", err, rtmp.CodePublishBadName)
			}
			select {
			case <-live.done:
				t.Fatalf("the live publisher was replaced by another credential: %v", live.err)
			case <-time.After(300 * time.Millisecond):
			}
			c, err = rtmpPublish(srv.url("t") + "?" + tc.same)
			if err != nil {
				t.Fatalf("the same credentials were refused: %v", err)
			}
			startMetricsPubOn(t, c)
			select {
			case <-live.done:
			case <-time.After(5 * time.Second):
				t.Fatal("the replaced publisher is still connected")
			}
			waitFor(t, 5*time.Second, "reason=taken_over", func() bool { return srv.logs.Count("reason=taken_over") == 1 })
			if !streamLive(t, srv.http, "live/t") {
				t.Error("the stream is not live after the takeover")
			}
		})
	}
}

// publishOnce publishes url and closes the client at once; the refusal if
// there is one.
func publishOnce(url string) error {
	c, err := rtmpPublish(url)
	if c != nil {
		c.Close()
	}
	return err
}

// TestLimitsRTMP: players per stream, streams and connections, each
// refusal counted.
func TestLimitsRTMP(t *testing.T) {
	srv := startAccessServer(t, "-max-players", "1", "-max-streams", "1", "-max-connections", "3", "-publish-deny", "127.0.0.2")
	startMetricsPub(t, srv.url("a"), 300_000)
	first := startCountingPlayer(t, srv.url("a"))
	// Play.Start comes before the decision: media means admitted.
	waitFor(t, 5*time.Second, "the first player's media", func() bool { return first.n.Load() > 0 })
	wantRefusal(t, rtmpPlayOutcome(srv.url("a")), rtmp.CodePlayFailed, access.ReasonMaxPlayers)
	_, err := rtmpPublish(srv.url("b"))
	wantRefusal(t, err, rtmp.CodePublishBadName, access.ReasonMaxStreams)
	startCountingPlayer(t, srv.url("c")) // waits for a publisher: the third connection
	waitFor(t, 5*time.Second, "the waiting player's admission", func() bool {
		v, _ := series(scrape(t, srv.http), "bbllive_access_admitted", "action=play")
		return v == 2
	})
	wantRefusal(t, rtmpPlayOutcome(srv.url("d")), rtmp.CodePlayFailed, access.ReasonMaxConnections)
	mfs := scrape(t, srv.http)
	for _, c := range []struct{ action, reason string }{{"play", "max_players"}, {"publish", "max_streams"}, {"play", "max_connections"}} {
		if v := mustSeries(t, mfs, "bbllive_access_refused_total", "action="+c.action, "reason="+c.reason); v != 1 {
			t.Errorf("%s %s counted %v times", c.action, c.reason, v)
		}
	}
	if v := mustSeries(t, mfs, "bbllive_access_admitted", "action=play"); v != 2 {
		t.Errorf("admitted players %v, want 2", v)
	}
}

// TestKick: the API lists who is connected and kicks a player, then the
// publisher, by connection id; the others stay.
func TestKick(t *testing.T) {
	eachTransport(t, func(t *testing.T) {
		srv := startAccessServer(t, "-api-token", testAPIToken)
		startMetricsPub(t, srv.url("k"), 300_000)
		victim := startCountingPlayer(t, srv.url("k"))
		keeper := startCountingPlayer(t, srv.url("k"))
		waitFor(t, 5*time.Second, "both players to receive", func() bool { return victim.n.Load() > 0 && keeper.n.Load() > 0 })
		ids := connIDs(t, srv.http)
		api := "http://" + srv.http + "/api/connections/"
		if st, _ := apiCall(t, "POST", api+fmt.Sprint(ids["player"][0])+"/kick", ""); st != http.StatusUnauthorized {
			t.Fatalf("kick without the token: %d", st)
		}
		victimID := playerID(t, srv, victim)
		if st, body := apiCall(t, "POST", api+fmt.Sprint(victimID)+"/kick", testAPIToken); st != http.StatusOK {
			t.Fatalf("kick: %d %s", st, body)
		}
		if err := readUntilClosed(victim.c.Conn(), 5*time.Second); err != nil {
			t.Fatalf("the kicked player: %v", err)
		}
		before := keeper.n.Load()
		waitFor(t, 5*time.Second, "the other player to keep receiving", func() bool { return keeper.n.Load() > before })
		if st, _ := apiCall(t, "POST", api+"999999/kick", testAPIToken); st != http.StatusNotFound {
			t.Errorf("kick of an unknown id: %d", st)
		}
		if st, body := apiCall(t, "POST", api+fmt.Sprint(ids["publisher"][0])+"/kick", testAPIToken); st != http.StatusOK {
			t.Fatalf("kick publisher: %d %s", st, body)
		}
		waitFor(t, 5*time.Second, "the publisher to be gone", func() bool { return len(connIDs(t, srv.http)["publisher"]) == 0 })
		// Every admission was released: the kicked player and the publisher
		// no longer count, the other player does.
		waitFor(t, 5*time.Second, "the admissions to be released", func() bool {
			req, _ := http.NewRequest("GET", "http://"+srv.http+"/metrics", nil)
			req.Header.Set("Authorization", "Bearer "+testAPIToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return strings.Contains(string(body), `bbllive_access_admitted{action="play"} 1`) &&
				strings.Contains(string(body), `bbllive_access_admitted{action="publish"} 0`)
		})
		if n := srv.logs.Count("reason=kicked"); n < 2 {
			t.Errorf("%d kicked lines in the log", n)
		}
	})
}

// httpPlayers are the players kept connected by the kick and limit tests:
// every HTTP delivery of a connection (HLS sessions: TestKickHLSSession).
var httpPlayers = []struct {
	proto, ext string
	ws         bool
}{
	{access.ProtoHTTPFLV, ".flv", false}, {access.ProtoWSFLV, ".flv", true},
	{access.ProtoFMP4, ".mp4", false}, {fanout.ProtocolWSFMP4, ".mp4", true},
}

// TestKickHTTP: the API kicks an HTTP-FLV, fMP4 or WebSocket player by
// the id it lists: its stream ends, the hook hears its on_stop, its place
// is released; the player beside it keeps receiving.
func TestKickHTTP(t *testing.T) {
	eachTransport(t, func(t *testing.T) {
		hook := newRecordingHook(t)
		srv := startAccessServer(t, "-hook-url", hook.URL) // the API's token: TestKick
		startMetricsPub(t, srv.url("k"), 300_000)
		api := "http://" + srv.http + "/api/connections/"
		for _, hp := range httpPlayers {
			t.Run(hp.proto, func(t *testing.T) {
				victim := startStreamPlayer(t, srv.http, "/live/k"+hp.ext, hp.ws)
				keeper := startStreamPlayer(t, srv.http, "/live/k"+hp.ext, hp.ws)
				waitFor(t, 5*time.Second, "both players to receive", func() bool { return victim.n.Load() > 0 && keeper.n.Load() > 0 })
				id := connID(t, srv, victim.c.LocalAddr())
				for _, r := range apiConnRows(t, srv.http) {
					if r.ID == id && (r.Protocol != hp.proto || r.Role != "player" || r.Stream != "live/k") {
						t.Errorf("listed as %+v", r)
					}
				}
				stops := hook.count(access.EventStop, "live/k", hp.proto)
				if st, body := apiCall(t, "POST", api+fmt.Sprint(id)+"/kick", testAPIToken); st != http.StatusOK {
					t.Fatalf("kick: %d %s", st, body)
				}
				if !victim.ended(5 * time.Second) {
					t.Fatal("the kicked player still receives")
				}
				waitFor(t, 5*time.Second, "the kicked player's on_stop", func() bool { return hook.count(access.EventStop, "live/k", hp.proto) == stops+1 })
				before := keeper.n.Load()
				waitFor(t, 5*time.Second, "the other player to keep receiving", func() bool { return keeper.n.Load() > before })
				waitFor(t, 5*time.Second, "the kicked player's place released", func() bool {
					v, _ := series(scrape(t, srv.http), "bbllive_access_admitted", "action=play")
					return v == 1
				})
				keeper.c.Close()
				waitFor(t, 5*time.Second, "the closed player's place released", func() bool {
					v, _ := series(scrape(t, srv.http), "bbllive_access_admitted", "action=play")
					return v == 0
				})
			})
		}
		if n := srv.logs.Count("reason=kicked"); n < len(httpPlayers) {
			t.Errorf("%d kicked lines in the log, want %d", n, len(httpPlayers))
		}
	})
}

// TestLimitsHTTP: -max-players and -max-connections count HTTP and
// WebSocket players with RTMP's, refuse every protocol with 503 (RTMP:
// Play.Failed) and the reason, and give a place back when a player goes.
func TestLimitsHTTP(t *testing.T) {
	srv := startAccessServer(t, append(tlsFlags(t), "-max-players", "1", "-max-connections", "4")...)
	startMetricsPub(t, srv.url("a"), 300_000)
	startMetricsPub(t, srv.url("b"), 300_000)
	startStreamPlayer(t, srv.http, "/live/a.flv", false) // a's one player; the third connection
	for _, e := range accessEntries {
		wantRefusal(t, e.play(srv, defaultDialer, "live/a", ""), e.refusedPlay(access.ReasonMaxPlayers), access.ReasonMaxPlayers)
	}
	last := startStreamPlayer(t, srv.http, "/live/b.mp4", true) // the fourth
	for _, e := range accessEntries {
		wantRefusal(t, e.play(srv, defaultDialer, "live/b", ""), e.refusedPlay(access.ReasonMaxConnections), access.ReasonMaxConnections)
	}
	mfs := scrape(t, srv.http)
	for _, reason := range []string{access.ReasonMaxPlayers, access.ReasonMaxConnections} {
		if v := mustSeries(t, mfs, "bbllive_access_refused_total", "action=play", "reason="+reason); v != float64(len(accessEntries)) {
			t.Errorf("%s counted %v times, want %d", reason, v, len(accessEntries))
		}
	}
	last.c.Close()
	waitFor(t, 5*time.Second, "the closed WebSocket player's place back", func() bool {
		return accessEntries[2].play(srv, defaultDialer, "live/b", "") == nil
	})
}

// connIDs lists /api/connections' ids by role.
func connIDs(t *testing.T, httpAddr string) map[string][]uint64 {
	t.Helper()
	out := map[string][]uint64{}
	for _, r := range apiConnRows(t, httpAddr) {
		out[r.Role] = append(out[r.Role], r.ID)
	}
	return out
}

// playerID is the id of p's connection, found by its local address.
func playerID(t *testing.T, srv *accessServer, p *countingPlayer) uint64 {
	t.Helper()
	rows := apiConnRows(t, srv.http)
	for _, r := range rows {
		if r.Peer == p.c.Conn().LocalAddr().String() {
			return r.ID
		}
	}
	t.Fatalf("no connection from %s in %+v", p.c.Conn().LocalAddr(), rows)
	return 0
}

// apiConnRows is /api/connections, asked with the test's API token.
func apiConnRows(t *testing.T, httpAddr string) []connRow {
	t.Helper()
	st, body := apiCall(t, "GET", "http://"+httpAddr+"/api/connections", testAPIToken)
	if st != http.StatusOK {
		t.Fatalf("/api/connections: %d %s", st, body)
	}
	var rows []connRow
	if err := json.Unmarshal([]byte(body), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestReloadRotatesSecret: a reload (API and SIGHUP) rotates the secret
// while the players admitted under the old one keep playing; a bad file
// keeps the old settings; what needs a restart is named.
func TestReloadRotatesSecret(t *testing.T) {
	eachTransport(t, func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "bbllive.yaml")
		write := func(s string) {
			if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write("auth-secret: old-secret\napi-token: " + testAPIToken + "\n")
		srv := startAccessServer(t, "-config", cfg)
		startMetricsPub(t, srv.url("r")+"?token="+tokenFor(t, "old-secret", access.Publish, "live/r", time.Hour), 300_000)
		players := []*countingPlayer{
			startCountingPlayer(t, srv.url("r")+"?token="+tokenFor(t, "old-secret", access.Play, "live/r", time.Hour)),
			startCountingPlayer(t, srv.url("r")+"?token="+tokenFor(t, "old-secret", access.Play, "live/r", time.Hour)),
		}
		reload := "http://" + srv.http + "/api/reload"
		if st, _ := apiCall(t, "POST", reload, ""); st != http.StatusUnauthorized {
			t.Fatalf("reload without the token: %d", st)
		}

		write("auth-secret: new-secret\napi-token: " + testAPIToken + "\nlog-level: warn\nchunk-size: 8192\n")
		st, body := apiCall(t, "POST", reload, testAPIToken)
		if st != http.StatusOK || !strings.Contains(body, `"chunk-size"`) {
			t.Fatalf("reload: %d %s", st, body)
		}
		if !strings.Contains(srv.logs.String(), "need a restart") {
			t.Error("the log does not name what needs a restart")
		}
		for i, p := range players {
			before := p.n.Load()
			waitFor(t, 5*time.Second, fmt.Sprintf("player %d to keep receiving after the rotation", i), func() bool { return p.n.Load() > before })
		}
		wantRefusal(t, rtmpPlayOutcome(srv.url("r")+"?token="+tokenFor(t, "old-secret", access.Play, "live/r", time.Hour)),
			rtmp.CodePlayFailed, access.ReasonTokenInvalid)
		if err := rtmpPlayOutcome(srv.url("r") + "?token=" + tokenFor(t, "new-secret", access.Play, "live/r", time.Hour)); err != nil {
			t.Fatalf("the new secret: %v", err)
		}
		if n := srv.logs.Count("level=INFO"); n == 0 {
			t.Fatal("no info lines at all before the reload")
		}
		infoBefore := srv.logs.Count("level=INFO")
		rtmpPlayOutcome(srv.url("r") + "?token=" + tokenFor(t, "new-secret", access.Play, "live/r", time.Hour))
		if n := srv.logs.Count("level=INFO"); n != infoBefore {
			t.Errorf("-log-level warn reloaded, yet %d new info lines", n-infoBefore)
		}

		// A broken file: refused, the new secret stays.
		write("auth-secret: [unclosed\n")
		if st, body := apiCall(t, "POST", reload, testAPIToken); st != http.StatusUnprocessableEntity {
			t.Fatalf("bad config reload: %d %s", st, body)
		}
		write("auth-secret: newer\nplay-deny: not-a-cidr\napi-token: " + testAPIToken + "\n")
		if st, body := apiCall(t, "POST", reload, testAPIToken); st != http.StatusUnprocessableEntity || !strings.Contains(body, "-play-deny") {
			t.Fatalf("bad list reload: %d %s", st, body)
		}
		if err := rtmpPlayOutcome(srv.url("r") + "?token=" + tokenFor(t, "new-secret", access.Play, "live/r", time.Hour)); err != nil {
			t.Fatalf("after failed reloads the secret changed: %v", err)
		}

		// SIGHUP reloads (it used to end the process with 129).
		write("auth-secret: hup-secret\napi-token: " + testAPIToken + "\n")
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the SIGHUP reload", func() bool {
			return rtmpPlayOutcome(srv.url("r")+"?token="+tokenFor(t, "hup-secret", access.Play, "live/r", time.Hour)) == nil
		})
		for i, p := range players {
			before := p.n.Load()
			waitFor(t, 5*time.Second, fmt.Sprintf("player %d to keep receiving after SIGHUP", i), func() bool { return p.n.Load() > before })
		}
		if strings.Contains(srv.logs.String(), "old-secret") || strings.Contains(srv.logs.String(), testAPIToken) {
			t.Error("a secret is in the log")
		}
	})
}

// TestSIGHUPKeepsProcess: the built binary survives SIGHUP and logs the
// reload.
func TestSIGHUPKeepsProcess(t *testing.T) {
	bin := buildBinary(t)
	logs := &logtest.Buffer{}
	cmd := exec.Command(bin, "serve", "-listen", "127.0.0.1:0", "-http", "", "-bpf=false", "-io", "netpoll")
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, 10*time.Second, "the server to listen", func() bool { return strings.Contains(logs.String(), "bbllive listening") })
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 5*time.Second, "the reload line", func() bool { return strings.Contains(logs.String(), "msg=reloaded") })
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		errors.As(err, &ee)
		t.Fatalf("exit after SIGHUP then SIGTERM: %v\n%s", err, logs)
	}
}

// TestAPIAuth: with -api-token the API and /metrics need it, health does
// not; with -api the API moves off -http.
func TestAPIAuth(t *testing.T) {
	srv := startAccessServer(t, "-api-token", testAPIToken)
	base := "http://" + srv.http
	cases := []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/api/connections", "", 401},
		{"GET", "/api/connections", "wrong", 401},
		{"GET", "/api/connections", testAPIToken, 200},
		{"GET", "/api/streams", "", 401},
		{"GET", "/metrics", "", 401},
		{"GET", "/metrics", testAPIToken, 200},
		{"POST", "/api/reload", "", 401},
		{"POST", "/api/connections/1/kick", "", 401},
		{"GET", "/api/../api/connections", "", 401},
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
	}
	for _, tc := range cases {
		if st, body := apiCall(t, tc.method, base+tc.path, tc.token); st != tc.want {
			t.Errorf("%s %s (token %q): %d, want %d: %s", tc.method, tc.path, tc.token, st, tc.want, body)
		}
	}

	t.Run("separate api listener", func(t *testing.T) {
		srv := startAccessServer(t, "-api", "127.0.0.1:0")
		for path, want := range map[string]int{"/api/connections": 404, "/metrics": 404, "/healthz": 200} {
			if st, _ := apiCall(t, "GET", "http://"+srv.http+path, ""); st != want {
				t.Errorf("-http %s: %d, want %d", path, st, want)
			}
		}
		for path, want := range map[string]int{"/api/connections": 200, "/metrics": 200, "/readyz": 200} {
			if st, _ := apiCall(t, "GET", "http://"+srv.api+path, ""); st != want {
				t.Errorf("-api %s: %d, want %d", path, st, want)
			}
		}
	})
}

// TestAPIGuardWithoutToken: without -api-token, what names clients or
// changes state answers loopback clients only.
func TestAPIGuardWithoutToken(t *testing.T) {
	ctl := &control{log: discardLogger()}
	ctl.setAPIToken("")
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	h := ctl.guard(ok, true)
	cases := []struct {
		method, path, remote string
		want                 int
	}{
		{"GET", "/api/connections", "127.0.0.1:5", 200},
		{"GET", "/api/connections", "[::1]:5", 200},
		{"GET", "/api/connections", "192.0.2.1:5", 403},
		{"POST", "/api/reload", "192.0.2.1:5", 403},
		{"POST", "/api/connections/3/kick", "10.0.0.1:5", 403},
		{"POST", "/api/reload", "127.0.0.1:5", 200},
		{"GET", "/metrics", "192.0.2.1:5", 200},
		{"GET", "/api/streams", "192.0.2.1:5", 200},
		{"GET", "/live/x.flv", "192.0.2.1:5", 200}, // playback is not the API
	}
	for _, tc := range cases {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		r.RemoteAddr = tc.remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s %s from %s: %d, want %d", tc.method, tc.path, tc.remote, w.Code, tc.want)
		}
	}
}

// TestTokenCommand: bbllive token prints a token the server accepts.
func TestTokenCommand(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "token", "-secret", testSecret, "-action", "publish", "-stream", "live/cmd", "-ttl", "1h").Output()
	if err != nil {
		t.Fatal(err)
	}
	srv := startAccessServer(t, "-auth-secret", testSecret)
	c, err := rtmpPublish(srv.url("cmd") + "?token=" + strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("the printed token: %v", err)
	}
	c.Close()
	if err := exec.Command(bin, "token", "-secret", "s", "-action", "watch", "-stream", "live/x").Run(); err == nil {
		t.Error("an unknown action minted a token")
	}
}

// TestJWKSToken: a backend signs with its EC private key (bbllive token
// -key), the server holds only the public key in a JWKS file.
func TestJWKSToken(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "backend.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pt, _ := key.PublicKey.Bytes()
	b64 := base64.RawURLEncoding.EncodeToString
	jwks := fmt.Sprintf(`{"keys":[{"kty":"EC","kid":"k1","crv":"P-256","x":%q,"y":%q}]}`, b64(pt[1:33]), b64(pt[33:]))
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, []byte(jwks), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	out, err := exec.Command(bin, "token", "-key", keyFile, "-kid", "k1", "-action", "publish", "-stream", "live/*").Output()
	if err != nil {
		t.Fatal(err)
	}
	srv := startAccessServer(t, "-auth-jwks", jwksFile)
	c, err := rtmpPublish(srv.url("j") + "?token=" + strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("ES256 token: %v", err)
	}
	c.Close()
	hs := tokenFor(t, "some-secret", access.Publish, "live/j", time.Hour)
	_, err = rtmpPublish(srv.url("j2") + "?token=" + hs)
	wantRefusal(t, err, rtmp.CodePublishBadName, access.ReasonTokenInvalid)
}

// TestTokenInConnectURL: an encoder that puts the query on the app
// (rtmp://h/live?token=…/name) is admitted by the connect URL's query.
func TestTokenInConnectURL(t *testing.T) {
	srv := startAccessServer(t, "-auth-secret", testSecret)
	tok := tokenFor(t, testSecret, access.Publish, "live/app", time.Hour)
	conn, err := net.DialTimeout("tcp", srv.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := rtmp.NewClient(conn, "live", "app", "rtmp://"+srv.addr+"/live?token="+tok)
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(); err != nil {
		t.Fatalf("token in the connect URL: %v", err)
	}
}

// buildBinary builds bbllive once per test into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bbllive")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v %s", err, out)
	}
	return bin
}
