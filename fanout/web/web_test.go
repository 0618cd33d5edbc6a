package web

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/rtmp"
)

// nopTransport accepts players and writes nothing.
type nopTransport struct{}

func (nopTransport) Name() string             { return "nop" }
func (nopTransport) Add(*fanout.Player) error { return nil }
func (nopTransport) Flush(*fanout.Output)     {}
func (nopTransport) Close() error             { return nil }

func testHandler(hidden bool) *Handler {
	hub := fanout.NewHub(fanout.Config{}, nopTransport{}, slog.New(slog.DiscardHandler))
	return &Handler{Hub: hub, RTMPPort: "1935", HLS: true, Version: "v-test", Hidden: hidden}
}

func TestFiles(t *testing.T) {
	h := testHandler(false)
	for _, tc := range []struct {
		path  string
		code  int
		ctype string
		has   string
	}{
		{"/", 200, "text/html", `src="/web/player.js"`},
		{"/web/player.js", 200, "javascript", "addSourceBuffer"},
		{"/web/page.js", 200, "javascript", "/streams.json"},
		{"/web/style.css", 200, "text/css", "video"},
		{"/web/index.html", 301, "", ""}, // net/http sends index.html to its folder
		{"/web/missing.js", 404, "", ""},
		{"/web/.hidden", 404, "", ""},
		{"/streams.json", 200, "application/json", `"streams":[]`},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != tc.code || !strings.Contains(rec.Header().Get("Content-Type"), tc.ctype) || !strings.Contains(string(body), tc.has) {
			t.Errorf("GET %s: %d %q, want %d %q with %q", tc.path, rec.Code, rec.Header().Get("Content-Type"), tc.code, tc.ctype, tc.has)
		}
	}
}

// TestNoThirdPartyScripts: the page loads only its own files.
func TestNoThirdPartyScripts(t *testing.T) {
	b, err := static.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"http://", "https://", "//cdn"} {
		if strings.Contains(string(b), bad) {
			t.Errorf("index.html refers to %q", bad)
		}
	}
}

func TestListHidden(t *testing.T) {
	for _, hidden := range []bool{false, true} {
		rec := httptest.NewRecorder()
		testHandler(hidden).ServeHTTP(rec, httptest.NewRequest("GET", "/streams.json", nil))
		var l List
		if err := json.NewDecoder(rec.Body).Decode(&l); err != nil {
			t.Fatal(err)
		}
		if l.Hidden != hidden || l.Streams == nil || l.RTMPPort != "1935" || !l.HLS || l.Version != "v-test" {
			t.Errorf("hidden=%v: %+v", hidden, l)
		}
	}
}

func TestRateSampler(t *testing.T) {
	var r rateSampler
	t0 := time.Unix(1000, 0)
	pub := fanout.ConnInfo{Since: t0.Add(-10 * time.Second), BytesReceived: 1250000}
	anew := fanout.ConnInfo{Since: t0.Add(5 * time.Second), BytesReceived: 100} // the stream made anew
	again := fanout.ConnInfo{Since: t0.Add(9 * time.Second), BytesReceived: 0}  // then republished
	for _, tc := range []struct {
		at    time.Duration
		bytes uint64
		pub   fanout.ConnInfo
		want  float64
	}{
		{0, 1250000, pub, 1000},                        // first sight: 1.25 MB in its 10 s = 1000 kbit/s
		{time.Second, 1260000, pub, 1000},              // too soon for a window: kept
		{2 * time.Second, 1500000, pub, 1000},          // 250 kB in 2 s = 1000 kbit/s
		{3 * time.Second, 1500000, pub, 1000},          // kept until the next window
		{4 * time.Second, 1550000, pub, 200},           // 50 kB in 2 s
		{5 * time.Second, 100, anew, 0},                // the counter went back: start over, over no time
		{7 * time.Second, 100 + 25000, anew, 100},      // 25 kB in 2 s
		{9 * time.Second, 125100, again, 0},            // a new publisher: start over from its attach
		{11 * time.Second, 125100 + 50000, again, 200}, // 50 kB in 2 s
	} {
		if got := r.kbps("live/x", tc.bytes, tc.pub, t0.Add(tc.at)); got != tc.want {
			t.Errorf("at %v with %d bytes: %.1f kbit/s, want %.1f", tc.at, tc.bytes, got, tc.want)
		}
	}
	r.forget(map[string]bool{})
	if len(r.last) != 0 {
		t.Error("a stream no longer live kept its sample")
	}
}

// TestFirstListRate: the first /streams.json about a stream that has been
// live a while already carries its rate: what it ingested since its
// publisher attached, over that time.
func TestFirstListRate(t *testing.T) {
	h := testHandler(false)
	src, err := h.Hub.PublishSource("live/r", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for i := range 100 {
		frame := make([]byte, 3000)
		frame[0], frame[1] = 0x27, 1
		if i == 0 {
			frame[0] = 0x17
		}
		if err := src.WriteMessage(&rtmp.Message{Type: rtmp.TypeVideo, Timestamp: uint32(i * 40), Payload: frame}); err != nil {
			t.Fatal(err)
		}
	}
	conns := h.Hub.Conns()
	if len(conns) != 1 {
		t.Fatalf("conns: %+v", conns)
	}
	// As if 34 s had passed since the attach: 300 kB in 34 s.
	l := h.list(conns[0].Since.Add(34 * time.Second))
	want := 300000 * 8 / 1000 / 34.0
	if len(l.Streams) != 1 || l.Streams[0].BitrateKbps < want*0.99 || l.Streams[0].BitrateKbps > want*1.01 {
		t.Fatalf("first list: %+v, want one stream at %.1f kbit/s", l.Streams, want)
	}
}
