package main

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/web"
	"github.com/bbllive/bbllive/rtmp"
	"github.com/chromedp/chromedp"
)

// layoutServer is a test server with the addresses of its -api and
// -http-play listeners ("" when off).
type layoutServer struct {
	*testServer
	api, play string
}

func startLayoutServer(t *testing.T, opts ...string) *layoutServer {
	t.Helper()
	s := &layoutServer{}
	s.testServer = startServerWith(t, func(c *serveConfig) {
		c.onAPI = func(a net.Addr) { s.api = a.String() }
		c.media.onPlay = func(a net.Addr) { s.play = a.String() }
	}, opts...)
	return s
}

// getBody is GET http://addr+path's status and body, with the test's API
// token (which a server without -api-token ignores).
func getBody(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp := apiGet(t, addr, path)
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// checkIndex reads addr's /index.txt: every path it lists (but the
// /APP/NAME patterns) answers 200 on addr, the lines want are there and
// the paths absent are not.
func checkIndex(t *testing.T, addr string, want, absent []string) {
	t.Helper()
	code, index := getBody(t, addr, "/index.txt")
	if code != 200 {
		t.Fatalf("%s/index.txt: %d", addr, code)
	}
	lines := strings.Split(strings.TrimSpace(index), "\n")
	for _, l := range lines[1:] {
		p, _, _ := strings.Cut(l, " ")
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "APP") {
			continue
		}
		if code, _ := getBody(t, addr, p); code != 200 {
			t.Errorf("%s/index.txt lists %s, which answers %d there", addr, p, code)
		}
	}
	for _, w := range want {
		if !strings.Contains(index, w) {
			t.Errorf("%s/index.txt has no %q:\n%s", addr, w, index)
		}
	}
	for _, a := range absent {
		for _, l := range lines {
			if p, _, _ := strings.Cut(l, " "); p == a {
				t.Errorf("%s/index.txt lists %s, not served there:\n%s", addr, a, index)
			}
		}
	}
}

// TestStartPageLayout: for each layout of listeners, the index.txt of
// -http and of -api lists only what that listener serves, and says where
// the rest is; the start page's links (from /streams.json) do the same;
// -http-play serves playback and no index.
func TestStartPageLayout(t *testing.T) {
	apiPaths := []string{"/metrics", "/api/streams", "/api/connections"}
	pagePaths := []string{"/", "/streams.json"}
	for _, tc := range []struct {
		name string
		opts []string
	}{
		{"api on -http", nil},
		{"-api", []string{"-api", "127.0.0.1:0"}},
		{"-http-play", []string{"-http-play", "127.0.0.1:0"}},
		{"-api and -http-play", []string{"-api", "127.0.0.1:0", "-http-play", "127.0.0.1:0"}},
		{"-api with a token", []string{"-api", "127.0.0.1:0", "-api-token", testAPIToken}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startLayoutServer(t, tc.opts...)
			want := []string{"/ (the live streams page)", "/streams.json", "/APP/NAME.flv", "/APP/NAME/index.m3u8", "/healthz"}
			var absent, links []string
			if srv.api == "" {
				want = append(want, apiPaths...)
				links = append(links, "metrics=/metrics", "api/streams=/api/streams")
			} else {
				absent = apiPaths
				note := "metrics and API on " + srv.api
				want = append(want, note+" (-api)")
				links = append(links, note+"=")
			}
			if srv.play != "" {
				want = append(want, "HTTP-FLV and fMP4 playback also on "+srv.play+" (-http-play)")
				links = append(links, "playback also on "+srv.play+"=")
			}
			checkIndex(t, srv.http, want, absent)

			var got []string
			l := streamsListed(t, srv.testServer)
			for _, k := range l.Links {
				got = append(got, k.Text+"="+k.Href)
				if k.Href != "" {
					if code, _ := getBody(t, srv.http, k.Href); code != 200 {
						t.Errorf("the page links %s, which answers %d", k.Href, code)
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(links, ",") {
				t.Errorf("the page's links: %q, want %q", got, links)
			}
			if strings.Contains(fmtList(l), testAPIToken) {
				t.Error("the API token is shown")
			}

			if srv.api != "" {
				checkIndex(t, srv.api, []string{"/metrics", "/api/streams", "/readyz", "the live streams page and playback on " + srv.http + " (-http)"}, pagePaths)
				if _, index := getBody(t, srv.api, "/index.txt"); strings.Contains(index, testAPIToken) {
					t.Error("the -api index shows the token")
				}
			}
			if srv.play != "" {
				for _, p := range []string{"/", "/index.txt", "/streams.json", "/metrics"} {
					if code, _ := getBody(t, srv.play, p); code != 404 {
						t.Errorf("-http-play %s: %d, want 404 (it serves playback only)", p, code)
					}
				}
			}
		})
	}
}

func fmtList(l web.List) string {
	var b strings.Builder
	for _, k := range l.Links {
		b.WriteString(k.Text + " " + k.Href + "\n")
	}
	return b.String()
}

// TestStartPageLinksBrowser: in Chromium, with -api the page's header
// links no path of the API and says where it is.
func TestStartPageLinksBrowser(t *testing.T) {
	srv := startLayoutServer(t, "-api", "127.0.0.1:0")
	bctx := openPage(t, time.Minute, "http://"+srv.http+"/")
	var nav string
	waitFor(t, 15*time.Second, "the page's links", func() bool {
		var err error
		nav, err = chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#links > *')].map(e => e.tagName + ' ' + (e.getAttribute('href') || '') + ' ' + e.textContent).join('\n')`))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(nav, "metrics and API")
	})
	want := "A /index.txt index.txt\nSPAN  metrics and API on " + srv.api
	if nav != want {
		t.Errorf("the page's header:\n%s\nwant:\n%s", nav, want)
	}
}

// TestStartPageFirstBitrate: the first /streams.json request about a
// stream live for a few seconds reports its bitrate, within 20% of what
// the publisher sent over that time, not 0 until a second poll.
func TestStartPageFirstBitrate(t *testing.T) {
	srv := startServer(t)
	start := time.Now()
	pub := startStepPublisher(t, srv.url("rate"))
	// 4000-byte frames at 25 a second: 800 kbit/s of video, for 4 s.
	var sent int
	frame := make([]byte, 4000)
	frame[1] = 1
	for i := range 100 {
		frame[0] = 0x27
		if i%25 == 0 {
			frame[0] = 0x17
		}
		if err := pub.send(rtmp.TypeVideo, uint32(i*40), frame); err != nil {
			t.Fatal(err)
		}
		sent += len(frame)
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * 40 * time.Millisecond)))
	}
	l := streamsListed(t, srv)
	elapsed := time.Since(start)
	if len(l.Streams) != 1 {
		t.Fatalf("/streams.json: %+v", l)
	}
	sentKbps := float64(sent) * 8 / 1000 / elapsed.Seconds()
	got := l.Streams[0].BitrateKbps
	t.Logf("first /streams.json after %.1fs: %.0f kbit/s; the publisher sent %.0f kbit/s", elapsed.Seconds(), got, sentKbps)
	if got < sentKbps*0.8 || got > sentKbps*1.2 {
		t.Errorf("first /streams.json: %.0f kbit/s, want within 20%% of the %.0f kbit/s sent", got, sentKbps)
	}
}
