package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/browser"
	"github.com/chromedp/chromedp"
)

// hlsPage is a page as a site embedding hls.js would write it, served
// from another origin than the stream, in low-latency mode.
const hlsPage = `<!doctype html><html><body>
<video muted autoplay playsinline></video>
<script src="/hls.js"></script>
<script>
const v = document.querySelector('video');
v.addEventListener('error', () => { window.playerError = 'MediaError ' + (v.error && v.error.code); });
const hls = new Hls({lowLatencyMode: true});
window.hls = hls;
hls.on(Hls.Events.ERROR, (e, d) => { if (d.fatal) window.playerError = d.type + ': ' + d.details; });
hls.loadSource(%q);
hls.attachMedia(v);
v.play().catch(() => {});
</script></body></html>`

// hlsLatency is what the page reports of how far behind live it plays:
// hls.js's own estimate, and the wall clock minus the program date-time
// of the frame on screen.
type hlsLatency struct {
	HLSJS     float64 `json:"hlsjs"`
	WallClock float64 `json:"wall"`
	Blocking  int     `json:"blocking"` // playlist requests with _HLS_msn
	Parts     int     `json:"parts"`    // part requests
}

const hlsLatencyJS = `(() => {
	const r = performance.getEntriesByType('resource').map(e => e.name);
	const d = window.hls.playingDate;
	return {hlsjs: window.hls.latency || 0, wall: d ? (Date.now() - d.getTime()) / 1000 : -1,
		blocking: r.filter(n => n.includes('_HLS_msn=')).length,
		parts: r.filter(n => /\.\d+\.(m4s|ts)$/.test(n)).length};
})()`

// TestHLSjsLowLatency plays the LL-HLS playlist with hls.js in headless
// Chromium from a page on another origin: playback advances, hls.js uses
// blocking reloads and parts, and plays less than 3 s behind live — with
// fMP4 segments, and with MPEG-TS ones (which hls.js transmuxes).
func TestHLSjsLowLatency(t *testing.T) {
	for _, format := range []string{"fmp4", "ts"} {
		t.Run(format, func(t *testing.T) { testHLSjsLowLatency(t, format) })
	}
}

func testHLSjsLowLatency(t *testing.T, format string) {
	script := playerScript(t, "hls.js")
	_, playlist, _ := startHLS(t, "hlsjs", "-hls-segment", format)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hls.js" {
			http.ServeFile(w, r, script)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, hlsPage, playlist)
	}))
	defer page.Close()
	if strings.Contains(page.URL, strings.Split(playlist, "/")[2]) {
		t.Fatal("the page and the stream share an origin")
	}
	bctx := openPage(t, 90*time.Second, page.URL)
	pb, advanced, err := browser.WatchPlayback(bctx, 5*time.Second, 30*time.Second)
	if err != nil {
		t.Fatalf("hls.js: %v (at %.2fs)", err, pb.CurrentTime)
	}
	lat, err := chromedp.Run(bctx, chromedp.Evaluate[hlsLatency](hlsLatencyJS))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hls.js advanced %.2fs; latency %.2fs (hls.js), %.2fs (wall clock - program date-time); %d blocking reloads, %d parts",
		advanced, lat.HLSJS, lat.WallClock, lat.Blocking, lat.Parts)
	if lat.Blocking == 0 || lat.Parts == 0 {
		t.Errorf("hls.js did not play low-latency: %d blocking reloads, %d parts", lat.Blocking, lat.Parts)
	}
	if lat.HLSJS <= 0 || lat.HLSJS >= 3 {
		t.Errorf("hls.js latency %.2fs, want under 3 s", lat.HLSJS)
	}
}
