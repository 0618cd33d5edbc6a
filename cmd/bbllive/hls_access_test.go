package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/browser"
	"github.com/bbllive/bbllive/bench/mediatest"
	"github.com/bbllive/bbllive/fanout/access"
	"github.com/bbllive/bbllive/fanout/hls/hlstest"
	"github.com/chromedp/chromedp"
)

// startProtectedHLS runs a server with tokens, a real hook, 1 s HLS
// segments and opts, with ffmpeg publishing the clip (with its publish
// token) to live/NAME; it returns the server, the hook and the playlist
// URL without a token.
func startProtectedHLS(t *testing.T, name string, opts ...string) (*accessServer, *recordingHook, string) {
	t.Helper()
	clip := mediatest.Path(t, hlsClip)
	hook := newRecordingHook(t)
	srv := startAccessServer(t, append([]string{"-auth-secret", testSecret, "-hook-url", hook.URL,
		"-hls-segment-target", "1s", "-hls-session-idle", "3s"}, opts...)...)
	mediatest.Publish(context.Background(), t, clip, srv.url(name)+"?token="+tokenFor(t, testSecret, access.Publish, "live/"+name, time.Hour))
	waitFor(t, 15*time.Second, "the stream to go live", func() bool { return streamLive(t, srv.http, "live/"+name) })
	return srv, hook, "http://" + srv.http + "/live/" + name + "/index.m3u8"
}

// hlsPlays counts the on_play events the hook heard from HLS viewers of
// stream.
func (h *recordingHook) hlsPlays(stream string) (plays, stops int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.Protocol != access.ProtoHLS || e.Stream != stream {
			continue
		}
		switch e.Event {
		case access.EventPlay:
			plays++
		case access.EventStop:
			stops++
		}
	}
	return plays, stops
}

// TestHLSFFmpegToken: ffmpeg's HLS client, given only the playlist URL
// with ?token=, plays 6 s of a protected stream (hundreds of requests) as
// one viewer: one on_play, one place in -max-players (a second viewer is
// refused 503 meanwhile), one on_stop once it has been quiet for
// -hls-session-idle. Without a token ffmpeg is refused.
func TestHLSFFmpegToken(t *testing.T) {
	srv, hook, playlist := startProtectedHLS(t, "hlstok", "-max-players", "1")
	token := "?token=" + tokenFor(t, testSecret, access.Play, "live/hlstok", time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if b, err := exec.CommandContext(ctx, "ffmpeg", "-loglevel", "error", "-i", playlist, "-t", "1", "-f", "null", "-").CombinedOutput(); err == nil {
		t.Fatalf("ffmpeg played HLS without a token: %s", b)
	}
	out := filepath.Join(t.TempDir(), "hls.nut")
	if b, err := exec.CommandContext(ctx, "ffmpeg", "-y", "-loglevel", "error", "-i", playlist+token,
		"-t", "6", "-c", "copy", "-f", "nut", out).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg with a token: %v: %s", err, b)
	}
	// ffmpeg has gone, but its session lasts -hls-session-idle: it still
	// holds the stream's one player place.
	if err := hlsPlayOutcome(playlist + token); err == nil || !strings.Contains(err.Error(), "HTTP 503") ||
		!strings.Contains(err.Error(), access.ReasonMaxPlayers) {
		t.Errorf("second HLS viewer with -max-players 1: %v, want 503 %s", err, access.ReasonMaxPlayers)
	}
	b, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries",
		"stream=nb_read_frames", "-of", "csv=p=0", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	var frames int
	fmt.Sscan(strings.TrimSpace(string(b)), &frames)
	if frames < 6*hlsClip.FPS-5 {
		t.Errorf("%d video frames in 6 s of protected HLS, want about %d", frames, 6*hlsClip.FPS)
	}
	waitFor(t, 10*time.Second, "on_stop of the HLS viewer", func() bool { _, stops := hook.hlsPlays("live/hlstok"); return stops > 0 })
	mfs := scrape(t, srv.http)
	requests := mustSeries(t, mfs, "bbllive_hls_requests_total", "kind=segment") + mustSeries(t, mfs, "bbllive_hls_requests_total", "kind=playlist")
	if plays, stops := hook.hlsPlays("live/hlstok"); plays != 1 || stops != 1 {
		t.Errorf("hook heard %d on_play and %d on_stop for one ffmpeg viewer (%v HLS requests), want 1 and 1", plays, stops, requests)
	}
	t.Logf("one ffmpeg viewer: %d frames, %v playlist and segment requests, one on_play", frames, requests)
	if err := hlsPlayOutcome(playlist + token); err != nil {
		t.Errorf("viewer after the first one's session ended: %v", err)
	}
	if n := srv.logs.Count("reason=token_missing"); n != 1 {
		t.Errorf("%d token_missing lines for one refused ffmpeg, want 1", n)
	}
}

// capRequests is what hlsCapJS reports.
type capRequests struct {
	WithCap    int `json:"withCap"`
	WithoutCap int `json:"withoutCap"`
	Blocking   int `json:"blocking"`
}

// hlsCapJS counts what the page requested: part and segment URIs with
// the capability, and media requests without it.
const hlsCapJS = `(() => {
	const r = performance.getEntriesByType('resource').map(e => e.name);
	const media = r.filter(n => /\.(m4s|mp4|ts)(\?|$)/.test(n) && !n.endsWith('/hls.js'));
	return {withCap: media.filter(n => n.includes('?hls_cap=')).length, withoutCap: media.filter(n => !n.includes('?hls_cap=')).length,
		blocking: r.filter(n => n.includes('_HLS_msn=') && n.includes('hls_sid=')).length};
})()`

// TestHLSjsToken: hls.js in headless Chromium, given the playlist URL
// with ?token= from a page on another origin, plays the protected stream
// in low-latency mode; every media request carries the capability the
// playlist gave it, and the hook hears one on_play.
func TestHLSjsToken(t *testing.T) {
	script := playerScript(t, "hls.js")
	_, hook, playlist := startProtectedHLS(t, "hlsjstok")
	src := playlist + "?token=" + tokenFor(t, testSecret, access.Play, "live/hlsjstok", time.Hour)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hls.js" {
			http.ServeFile(w, r, script)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, hlsPage, src)
	}))
	defer page.Close()
	bctx := openPage(t, 90*time.Second, page.URL)
	pb, advanced, err := browser.WatchPlayback(bctx, 5*time.Second, 30*time.Second)
	if err != nil {
		t.Fatalf("hls.js with a token: %v (at %.2fs)", err, pb.CurrentTime)
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[capRequests](hlsCapJS))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hls.js advanced %.2fs: %d media requests with the capability, %d without, %d blocking reloads in the session",
		advanced, got.WithCap, got.WithoutCap, got.Blocking)
	if got.WithCap == 0 || got.WithoutCap != 0 || got.Blocking == 0 {
		t.Errorf("media requests: %d with the capability, %d without; %d blocking reloads", got.WithCap, got.WithoutCap, got.Blocking)
	}
	if plays, _ := hook.hlsPlays("live/hlsjstok"); plays != 1 {
		t.Errorf("hook heard %d on_play for one hls.js viewer, want 1", plays)
	}
}

// protectedSegment is, for one viewer arriving through base with token,
// the URI of the oldest segment its media playlist lists.
func protectedSegment(t *testing.T, base, token string) string {
	t.Helper()
	b, st := cacheGet(t, base+"index.m3u8?"+token)
	if st == "HIT" {
		t.Fatal("a viewer's multivariant playlist came from the cache")
	}
	lines := strings.Fields(string(b))
	variant := lines[len(lines)-1]
	b, st = cacheGet(t, base+variant)
	if st == "HIT" {
		t.Fatal("a viewer's media playlist came from the cache")
	}
	pl, err := hlstest.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return pl.Segments[0].URI
}

// TestProtectedHLSThroughNginxCache: behind a real nginx proxy_cache, two
// viewers with their own tokens and sessions are listed the same segment
// URIs (the capability is per stream and minute, not per viewer), so the
// second viewer's segment is a cache hit; each viewer's playlists come from
// the origin; a segment without the capability is refused through the
// cache too.
func TestProtectedHLSThroughNginxCache(t *testing.T) {
	srv, hook, _ := startProtectedHLS(t, "cdntok")
	edge := startNginx(t, srv.http)
	base := edge + "/live/cdntok/"
	tokA := "token=" + tokenFor(t, testSecret, access.Play, "live/cdntok", time.Hour)
	tokB := "token=" + tokenFor(t, testSecret, access.Play, "live/*", 2*time.Hour)
	var a, b string
	viewers := 0
	for attempt := 0; attempt < 2; attempt++ { // twice, in case a minute turned in between
		a, b = protectedSegment(t, base, tokA), protectedSegment(t, base, tokB)
		viewers += 2
		if a == b {
			break
		}
		t.Logf("a minute turned between the viewers (%s, %s): again", a, b)
	}
	if a != b {
		t.Fatalf("two viewers are listed different URIs for one segment: %s and %s", a, b)
	}
	first, st1 := cacheGet(t, base+a)
	second, st2 := cacheGet(t, base+b)
	t.Logf("%s: viewer A %s, viewer B %s", a, st1, st2)
	if st2 != "HIT" || !bytes.Equal(first, second) {
		t.Errorf("the second viewer's segment: %s, want HIT with the same bytes", st2)
	}
	bare, _, _ := strings.Cut(a, "?")
	resp, err := http.Get(base + bare)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("segment without the capability through the cache: %s", resp.Status)
	}
	if plays, _ := hook.hlsPlays("live/cdntok"); plays != viewers {
		t.Errorf("hook heard %d on_play for %d HLS viewers", plays, viewers)
	}
}

// TestKickHLSSession: an HLS viewer of a protected stream is listed in
// /api/connections beside the RTMP ones (protocol hls, its address and
// id), and kicking it by that id ends its session at once (on_stop, off
// the list): its next playlist reload is refused 403. A new viewer with a
// token still gets in: a kick is not a ban.
func TestKickHLSSession(t *testing.T) {
	srv, hook, playlist := startProtectedHLS(t, "hlskick", "-api-token", testAPIToken)
	token := "?token=" + tokenFor(t, testSecret, access.Play, "live/hlskick", time.Hour)
	base := playlist[:strings.LastIndexByte(playlist, '/')+1]
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := get(playlist + token)
	lines := strings.Fields(body)
	if st != http.StatusOK || len(lines) < 2 {
		t.Fatalf("multivariant playlist: %d %s", st, body)
	}
	media := base + lines[len(lines)-1]
	if st, body := get(media); st != http.StatusOK {
		t.Fatalf("media playlist: %d %s", st, body)
	}

	hlsRow := func() (connRow, bool) {
		for _, r := range apiConnRows(t, srv.http) {
			if r.Protocol == access.ProtoHLS {
				return r, true
			}
		}
		return connRow{}, false
	}
	row, ok := hlsRow()
	if !ok {
		t.Fatal("/api/connections does not list the HLS viewer")
	}
	if row.ID == 0 || row.Role != "player" || row.Stream != "live/hlskick" || !strings.HasPrefix(row.Peer, "127.0.0.1:") {
		t.Errorf("HLS row %+v", row)
	}
	if st, _ := apiCall(t, "GET", "http://"+srv.http+"/api/connections", ""); st != http.StatusUnauthorized {
		t.Errorf("/api/connections without the token: %d", st)
	}

	kick := fmt.Sprintf("http://%s/api/connections/%d/kick", srv.http, row.ID)
	if st, body := apiCall(t, "POST", kick, testAPIToken); st != http.StatusOK || !strings.Contains(body, `"stream": "live/hlskick"`) {
		t.Fatalf("kick: %d %s", st, body)
	}
	if st, body := get(media); st != http.StatusForbidden {
		t.Errorf("the kicked viewer's reload: %d %s; want 403", st, body)
	}
	if _, ok := hlsRow(); ok {
		t.Error("the kicked viewer is still listed")
	}
	// The hook is posted off the request's goroutine, so "at once" is well
	// inside the 3 s session idle that would also end the viewer.
	kicked := time.Now()
	waitFor(t, time.Second, "on_stop after the kick", func() bool { _, stops := hook.hlsPlays("live/hlskick"); return stops > 0 })
	if _, stops := hook.hlsPlays("live/hlskick"); stops != 1 {
		t.Errorf("%d on_stop events after the kick, want 1", stops)
	}
	t.Logf("on_stop %v after the kick", time.Since(kicked).Round(time.Millisecond))
	if st, _ := apiCall(t, "POST", kick, testAPIToken); st != http.StatusNotFound {
		t.Errorf("a second kick of the same viewer: %d, want 404", st)
	}
	if err := hlsPlayOutcome(playlist + token); err != nil {
		t.Errorf("a new viewer after the kick: %v", err)
	}
}
