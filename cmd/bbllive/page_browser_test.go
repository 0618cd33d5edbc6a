package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/browser"
	"github.com/bbllive/bbllive/bench/mediatest"
	"github.com/bbllive/bbllive/fanout/web"
	"github.com/chromedp/chromedp"
)

// pageLatency is what the start page's player reports: how far behind live
// the frame on screen is (from the prft boxes: the server's clock and the
// stream time it had ingested then), how far behind the buffered end, and
// the jumps to the live edge it made.
type pageLatency struct {
	Latency float64 `json:"latency"`
	Behind  float64 `json:"behind"`
	Jumps   int     `json:"jumps"`
	Cards   int     `json:"cards"`
}

const pageLatencyJS = `(() => {
	const first = document.querySelector('article.stream');
	const card = first && window.bblPlayers.get(first.dataset.stream);
	const s = card ? card.player.stats : {};
	return {latency: s.latency >= 0 ? s.latency : -1, behind: s.behind >= 0 ? s.behind : -1, jumps: s.jumps || 0,
		cards: document.querySelectorAll('article.stream').length};
})()`

// artifactDir is where a test's screenshots go: $BBLLIVE_ARTIFACTS when
// set (CI keeps it), else the test's temporary folder.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("BBLLIVE_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// streamsListed reads /streams.json.
func streamsListed(t *testing.T, srv *testServer) web.List {
	var l web.List
	getJSON(t, srv.http, "/streams.json", &l)
	return l
}

// TestBrowserStartPage opens the server's own page at / in headless
// Chromium with one stream published by ffmpeg: its first <video> (the
// page's MSE player over /live/NAME.mp4) must advance at least 5 s in 12 s
// with no error, it must play less than 1 s behind live, a screenshot is
// saved, and a second stream that starts appears in the list with its own
// preview.
func TestBrowserStartPage(t *testing.T) {
	if _, err := browser.Find(); err != nil {
		t.Skip(err)
	}
	clip := mediatest.Path(t, hlsClip)
	srv := startServer(t)
	mediatest.Publish(context.Background(), t, clip, srv.url("one"))
	waitFor(t, 15*time.Second, "live/one in /streams.json", func() bool { return len(streamsListed(t, srv).Streams) == 1 })

	bctx := openPage(t, 2*time.Minute, "http://"+srv.http+"/", chromedp.EmulateViewport(1280, 800))
	if _, _, err := browser.WatchPlayback(bctx, 100*time.Millisecond, 20*time.Second); err != nil {
		t.Fatalf("the page's preview did not start: %v", err)
	}
	pb, advanced, err := browser.WatchPlayback(bctx, 5*time.Second, 12*time.Second)
	if err != nil {
		t.Fatalf("the page's preview: %v (at %.2fs)", err, pb.CurrentTime)
	}
	t.Logf("the page's first video advanced %.2fs, now at %.2fs", advanced, pb.CurrentTime)

	// Latency behind live: sampled over 5 s of steady playback.
	var worst, sum float64
	var n int
	var lat pageLatency
	for range 10 {
		lat, err = chromedp.Run(bctx, chromedp.Evaluate[pageLatency](pageLatencyJS))
		if err != nil {
			t.Fatal(err)
		}
		if lat.Latency >= 0 {
			worst, sum, n = max(worst, lat.Latency), sum+lat.Latency, n+1
		}
		time.Sleep(500 * time.Millisecond)
	}
	if n == 0 {
		t.Fatal("the page's player reported no latency (no prft read)")
	}
	t.Logf("fMP4 in the page: %.2fs behind live on average, %.2fs at worst (%d samples; server clock at each fragment vs the frame on screen); %.2fs behind the buffered end; %d jumps to the live edge",
		sum/float64(n), worst, n, lat.Behind, lat.Jumps)
	if mean := sum / float64(n); mean >= 1 {
		t.Errorf("the page plays %.2fs behind live, want under 1 s", mean)
	}

	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifactDir(t), "start-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the start page: %s (%d bytes)", path, len(shot))

	// A second stream comes: the list grows to two cards, each playing.
	mediatest.Publish(context.Background(), t, clip, srv.url("two"))
	deadline := time.Now().Add(20 * time.Second)
	for lat.Cards != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the page shows %d streams 20 s after the second one started", lat.Cards)
		}
		time.Sleep(250 * time.Millisecond)
		if lat, err = chromedp.Run(bctx, chromedp.Evaluate[pageLatency](pageLatencyJS)); err != nil {
			t.Fatal(err)
		}
	}
	text, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('streams').innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"live/one", "live/two", "/live/two.mp4", "/live/two.flv", "/live/two/index.m3u8", "avc + aac"} {
		if !strings.Contains(text, want) && !strings.Contains(urlsOnPage(t, bctx), want) {
			t.Errorf("the page does not show %q:\n%s", want, text)
		}
	}
	secondTime := func() float64 {
		v, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`document.querySelectorAll('video')[1].currentTime`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	t0 := secondTime()
	time.Sleep(3 * time.Second)
	playing := secondTime() > t0+1
	if !playing {
		t.Error("the second stream's preview does not play")
	}
}

// urlsOnPage is the values of every URL field on the page.
func urlsOnPage(t *testing.T, ctx context.Context) string {
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.urls input')].map(i => i.value).join('\n')`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStartPageServed: the page, its scripts and the stream list are
// served from the binary; the old plain-text index is at /index.txt; the
// list names no client address.
func TestStartPageServed(t *testing.T) {
	srv := startServer(t)
	pub := startStepPublisher(t, srv.url("listed"))
	go pub.frames(50)
	for _, tc := range []struct{ path, ctype, has string }{
		{"/", "text/html", "/web/player.js"},
		{"/web/player.js", "javascript", "SourceBuffer"},
		{"/web/page.js", "javascript", "/streams.json"},
		{"/web/style.css", "text/css", "video"},
		{"/index.txt", "text/plain", "/api/streams"},
	} {
		resp, err := http.Get("http://" + srv.http + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 64<<10)
		n, _ := io.ReadFull(resp.Body, b)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(b[:n]), tc.has) {
			t.Errorf("GET %s: %s %q, body has %q: %v", tc.path, resp.Status, resp.Header.Get("Content-Type"), tc.has, strings.Contains(string(b[:n]), tc.has))
		}
	}
	waitFor(t, 10*time.Second, "the stream listed", func() bool { return len(streamsListed(t, srv).Streams) == 1 })
	resp, err := http.Get("http://" + srv.http + "/streams.json")
	if err != nil {
		t.Fatal(err)
	}
	rawb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	raw := string(rawb)
	if strings.Contains(raw, "127.0.0.1") {
		t.Errorf("/streams.json names a client address: %s", raw)
	}
	if l := streamsListed(t, srv); l.Streams[0].Stream != "live/listed" || l.Streams[0].AudioCodec != "aac" {
		t.Errorf("/streams.json: %+v", l)
	}
}

// TestStartPageHidden: where playing needs a token, the list names no
// stream.
func TestStartPageHidden(t *testing.T) {
	srv := startServer(t, "-auth-secret", "s3cret-for-the-test")
	if l := streamsListed(t, srv); !l.Hidden || len(l.Streams) != 0 {
		t.Fatalf("/streams.json with tokens on: %+v", l)
	}
}
