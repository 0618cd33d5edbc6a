package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/browser"
)

// loopPublish publishes the clip in a loop, in real time, until the test
// ends.
func loopPublish(t *testing.T, clip, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "flv", url)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
}

// playerPage is a page that plays src with mpegts.js and records any error
// in window.playerError, for browser.WatchPlayback.
const playerPage = `<!doctype html><html><body>
<video id="v" muted autoplay playsinline></video>
<script src="/mpegts.js"></script>
<script>
window.playerError = '';
const v = document.getElementById('v');
v.addEventListener('error', () => { window.playerError = 'video error ' + (v.error ? v.error.code + ' ' + v.error.message : ''); });
if (!mpegts.getFeatureList().mseLivePlayback) { window.playerError = 'no MSE live playback'; }
const p = mpegts.createPlayer({type: 'flv', isLive: true, url: %q}, {enableWorker: false});
p.on(mpegts.Events.ERROR, (type, detail, info) => { window.playerError = type + ' ' + detail + ' ' + JSON.stringify(info); });
p.attachMediaElement(v);
p.load();
p.play();
</script></body></html>`

// mpegtsPage serves playerPage for src, with mpegts.js from script, on a
// loopback origin of its own until the test ends; it returns its URL.
func mpegtsPage(t *testing.T, script, src string) string {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/mpegts.js" {
			http.ServeFile(w, r, script)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, playerPage, src)
	}))
	t.Cleanup(page.Close)
	return page.URL
}

// TestBrowserPlaysHTTPFLV opens a page on another origin (so CORS must let
// it in) that plays the stream with mpegts.js in headless Chromium, over
// HTTP-FLV and over WebSocket-FLV: the video must advance at least 8 s in
// 10 s with no error.
func TestBrowserPlaysHTTPFLV(t *testing.T) {
	script := playerScript(t, "mpegts.js")
	clip := testClip(t)
	eachTransport(t, func(t *testing.T) {
		srv := startServer(t)
		loopPublish(t, clip, srv.url("web"))
		for _, scheme := range []string{"http", "ws"} {
			t.Run(scheme, func(t *testing.T) {
				src := scheme + "://" + srv.http + "/live/web.flv"
				page := mpegtsPage(t, script, src)
				if strings.HasPrefix(page, "http://"+srv.http) {
					t.Fatal("the page must be on another origin than the stream")
				}
				bctx := openPage(t, time.Minute, page)
				// Start the 10 s once the video plays: the player's start-up
				// (script, request, first keyframe, MSE) is not the stream's
				// delivery, and on a loaded machine it can take seconds.
				if _, _, err := browser.WatchPlayback(bctx, 100*time.Millisecond, 20*time.Second); err != nil {
					t.Fatalf("%s: playback did not start: %v", src, err)
				}
				pb, advanced, err := browser.WatchPlayback(bctx, 8*time.Second, 10*time.Second)
				if err != nil {
					t.Fatalf("%s: %v (at %.2fs)", src, err, pb.CurrentTime)
				}
				t.Logf("%s: the video advanced %.2fs, now at %.2fs", src, advanced, pb.CurrentTime)
			})
		}
	})
}
