package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"testing"
	"time"
)

// TestHTTPFLVLiveRequests covers the answers about a live stream that
// TestHTTPFLVRequests (no stream) does not: HEAD of a live stream and of
// an unknown one, and the -http-play listener, which serves playback
// (/APP/NAME.flv and .mp4, plain or WebSocket) and nothing else: not
// /metrics, the API, HLS or the start page, which stay on -http.
func TestHTTPFLVLiveRequests(t *testing.T) {
	const playWait = 300 * time.Millisecond
	var playAddr string
	srv := startServerWith(t, func(c *serveConfig) { c.media.onPlay = func(a net.Addr) { playAddr = a.String() } },
		"-http-play", "127.0.0.1:0", "-play-wait", playWait.String())
	if playAddr == "" {
		t.Fatal("the -http-play listener did not report its address")
	}
	pub := startStepPublisher(t, srv.url("live"))
	go pub.frames(2000) // ~6 s of frames; ends with the test's connection
	ws := map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": wsTestKey}
	for _, tc := range []struct {
		name, listener, method, path string
		header                       map[string]string
		status                       int
		contentType                  string
		bodyHas                      string        // in the first bytes of the body; "" wants none at all
		minWait                      time.Duration // the answer comes no sooner (the not-found wait)
		twice                        bool          // a second request on the same connection is answered too
	}{
		{name: "HEAD of a live stream", listener: "http", method: "HEAD", path: "/live/live.flv", status: 200, contentType: "video/x-flv", twice: true},
		{name: "HEAD of a live fMP4 stream", listener: "http", method: "HEAD", path: "/live/live.mp4", status: 200, contentType: "video/mp4", twice: true},
		{name: "HEAD of an unknown stream", listener: "http", method: "HEAD", path: "/live/none.flv", status: 404, minWait: playWait},
		{name: "HEAD on the playback listener", listener: "play", method: "HEAD", path: "/live/live.flv", status: 200, contentType: "video/x-flv", twice: true},
		{name: "play listener: HTTP-FLV", listener: "play", method: "GET", path: "/live/live.flv", status: 200, contentType: "video/x-flv", bodyHas: "FLV\x01\x05"},
		{name: "play listener: WebSocket-FLV", listener: "play", method: "GET", path: "/live/live.flv", header: ws, status: 101, bodyHas: "FLV\x01\x05"},
		{name: "play listener: fMP4", listener: "play", method: "GET", path: "/live/live.mp4", status: 200, contentType: "video/mp4", bodyHas: "ftyp"},
		{name: "play listener: unknown stream", listener: "play", method: "GET", path: "/live/none.flv", status: 404, minWait: playWait, bodyHas: "not found"},
		{name: "play listener: no metrics", listener: "play", method: "GET", path: "/metrics", status: 404, bodyHas: "not found"},
		{name: "play listener: no API", listener: "play", method: "POST", path: "/api/reload", status: 404, bodyHas: "not found"},
		{name: "play listener: no health check", listener: "play", method: "GET", path: "/healthz", status: 404, bodyHas: "not found"},
		{name: "play listener: no HLS", listener: "play", method: "GET", path: "/live/live/index.m3u8", status: 404, bodyHas: "not found"},
		{name: "play listener: no start page", listener: "play", method: "GET", path: "/", status: 404, bodyHas: "not found"},
		{name: "-http keeps the metrics", listener: "http", method: "GET", path: "/metrics", status: 200, bodyHas: "# "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := srv.http
			if tc.listener == "play" {
				addr = playAddr
			}
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for round := range 1 + btoi(tc.twice) {
				req, _ := http.NewRequest(tc.method, "http://"+addr+tc.path, nil)
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				reused := false
				req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
					GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", round+1, err)
				}
				body, err := readUntilHas(resp.Body, tc.bodyHas, 4096)
				resp.Body.Close()
				took := time.Since(start)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d (%q)", resp.StatusCode, tc.status, body)
				}
				if ct := resp.Header.Get("Content-Type"); tc.contentType != "" && ct != tc.contentType {
					t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
				}
				switch {
				case tc.bodyHas == "" && len(body) > 0:
					t.Errorf("a body (%q), want none", body)
				case tc.bodyHas != "" && !bytes.Contains(body, []byte(tc.bodyHas)):
					t.Errorf("body starts %q (then %v), want %q in it", body, err, tc.bodyHas)
				}
				if took < tc.minWait {
					t.Errorf("answered after %v, before the %v not-found wait", took, tc.minWait)
				}
				if round == 1 && !reused {
					t.Error("the second request did not reuse the connection: the first left it unusable")
				}
			}
		})
	}
}

// readUntilHas reads r until what it read contains want (with want "",
// to the end), max bytes were read, or r fails.
func readUntilHas(r io.Reader, want string, max int) ([]byte, error) {
	var got []byte
	buf := make([]byte, 512)
	for len(got) < max && (want == "" || !bytes.Contains(got, []byte(want))) {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF && want == "" {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
