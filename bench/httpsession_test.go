package bench

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseServerConfigPlay(t *testing.T) {
	for _, tc := range []struct {
		in, play, url string
		flags         int
	}{
		{"r=-io uring", "", "rtmp://R/live/bench_{i%2}", 2},
		{"f=http-flv -io uring", PlayHTTPFLV, "http://H/live/bench_{i%2}.flv", 2},
		{"w=ws-flv", PlayWSFLV, "ws://H/live/bench_{i%2}.flv", 0},
	} {
		sc, err := ParseServerConfig(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if sc.Play != tc.play || len(sc.Flags) != tc.flags || sc.playURL("R", "H", 2) != tc.url {
			t.Errorf("%q: play %q flags %q url %q", tc.in, sc.Play, sc.Flags, sc.playURL("R", "H", 2))
		}
	}
	if _, err := LookupPreset("flv"); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPSession: an HTTP-FLV and a WebSocket-FLV setup read the response
// head, count what follows it as stream bytes, and refuse other statuses.
func TestHTTPSession(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				line, _ := br.ReadString('\n')
				ws := false
				for {
					h, err := br.ReadString('\n')
					if err != nil || h == "\r\n" {
						break
					}
					ws = ws || strings.HasPrefix(strings.ToLower(h), "upgrade: websocket")
				}
				switch {
				case strings.Contains(line, "/missing"):
					c.Write([]byte("HTTP/1.1 404 Not Found\r\n\r\n"))
				case ws:
					c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x82\x03FLV"))
				default:
					c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\n\r\nFLV\x01\x05"))
				}
				time.Sleep(200 * time.Millisecond)
			}()
		}
	}()
	base := ln.Addr().String() + "/live/x.flv"
	for _, tc := range []struct {
		url  string
		n    uint64
		fail bool
	}{
		{"http://" + base, 5, false},
		{"ws://" + base, 5, false},
		{"http://" + ln.Addr().String() + "/missing.flv", 0, true},
	} {
		s, err := startSession(context.Background(), tc.url, 5*time.Second, nil)
		if tc.fail {
			if err == nil {
				t.Errorf("%s: no error", tc.url)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		time.Sleep(50 * time.Millisecond)
		if s.received() > tc.n || s.window != 0 {
			t.Errorf("%s: %d stream bytes counted, window %d", tc.url, s.received(), s.window)
		}
		s.conn.Close()
	}
}
