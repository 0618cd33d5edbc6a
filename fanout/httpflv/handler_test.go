package httpflv

import (
	"bufio"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout"
)

func TestStreamPath(t *testing.T) {
	for _, tc := range []struct {
		path, app, name string
		ok              bool
	}{
		{"/live/x.flv", "live", "x", true},
		{"/live/a.b.flv", "live", "a.b", true},
		{"/live/.flv", "", "", false},
		{"//x.flv", "", "", false},
		{"/live/x", "", "", false},
		{"/live/x.mp4", "live", "x", true},
		{"/live/.mp4", "", "", false},
		{"/live/x.m4s", "", "", false},
		{"/a/b/c.flv", "", "", false},
		{"live/x.flv", "", "", false},
		{"/x.flv", "", "", false},
	} {
		app, name, _, ok := streamPath(tc.path)
		if ok != tc.ok || app != tc.app || name != tc.name {
			t.Errorf("streamPath(%q) = %q, %q, %v; want %q, %q, %v", tc.path, app, name, ok, tc.app, tc.name, tc.ok)
		}
	}
}

// nopTransport accepts players and writes nothing.
type nopTransport struct{}

func (nopTransport) Name() string             { return "nop" }
func (nopTransport) Add(*fanout.Player) error { return nil }
func (nopTransport) Flush(*fanout.Output)     {}
func (nopTransport) Close() error             { return nil }

func testHandler() *Handler {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &Handler{Hub: fanout.NewHub(fanout.Config{PlayWait: time.Millisecond}, nopTransport{}, log), Logger: log}
}

// FuzzRequest sends arbitrary request lines and headers through the
// handler (which parses the path and the WebSocket handshake itself): it
// must answer with a status, never panic, and never hijack for a stream
// nobody publishes.
func FuzzRequest(f *testing.F) {
	f.Add("GET /live/x.flv HTTP/1.1\r\nHost: a\r\n\r\n")
	f.Add("GET /live/x.flv HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	f.Add("GET /live/x.mp4 HTTP/1.1\r\nHost: a\r\n\r\n")
	f.Add("OPTIONS /a/b.flv HTTP/1.1\r\nHost: a\r\nAccess-Control-Request-Headers: x\r\n\r\n")
	h := testHandler()
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http's own parser refuses it before us
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code < 200 || rec.Code > 599 {
			t.Fatalf("status %d", rec.Code)
		}
		if rec.Code == http.StatusOK && req.Method != http.MethodHead {
			t.Fatalf("200 for %q with nobody publishing", req.URL.Path)
		}
	})
}

func TestRequestsWithoutStream(t *testing.T) {
	h := testHandler()
	for _, tc := range []struct {
		method, path string
		header       http.Header
		want         int
	}{
		{"GET", "/live/x.flv", nil, http.StatusNotFound},
		{"HEAD", "/live/x.flv", nil, http.StatusNotFound},
		{"GET", "/live/x.mp4", nil, http.StatusNotFound},
		{"DELETE", "/live/x.flv", nil, http.StatusMethodNotAllowed},
		{"OPTIONS", "/live/x.flv", nil, http.StatusNoContent},
		{"GET", "/live/x.flv", http.Header{"Connection": {"upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}}, http.StatusBadRequest},
		{"POST", "/live/x.flv", http.Header{"Connection": {"upgrade"}, "Upgrade": {"websocket"}}, http.StatusMethodNotAllowed},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		for k, v := range tc.header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s %s %v: %d, want %d", tc.method, tc.path, tc.header, rec.Code, tc.want)
		}
		if rec.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s %s: no CORS header", tc.method, tc.path)
		}
	}
}
