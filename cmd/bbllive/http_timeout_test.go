package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that does not finish its headers within -http-header-timeout —
// one sending them a byte at a time, one sending nothing, one whose second
// request on a kept-alive connection stalls — gets 408 Request Timeout
// and a close, while another client is served meanwhile.
func TestHTTPHeaderTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := startServer(t, "-http-header-timeout", timeout.String())
	cases := []struct {
		name string
		// send writes what the client sends; it may keep writing until
		// the connection fails.
		send func(c net.Conn, r *bufio.Reader) error
	}{
		{"byte-by-byte", func(c net.Conn, _ *bufio.Reader) error {
			for _, b := range []byte("GET /index.txt HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200)) {
				if _, err := c.Write([]byte{b}); err != nil {
					return nil // the server closed it: expected
				}
				time.Sleep(20 * time.Millisecond)
			}
			return nil
		}},
		{"nothing", func(net.Conn, *bufio.Reader) error { return nil }},
		{"stalled-second-request", func(c net.Conn, r *bufio.Reader) error {
			if _, err := io.WriteString(c, "GET /index.txt HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				return err
			}
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("first request: %s", resp.Status)
			}
			_, err = io.WriteString(c, "GET /index.txt HTTP/1.1\r\nHo")
			return err
		}},
	}
	done := make(chan struct{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", srv.http)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(timeout + 10*time.Second))
			r := bufio.NewReader(c)
			start := time.Now()
			go tc.send(c, r)
			if tc.name == "stalled-second-request" {
				time.Sleep(100 * time.Millisecond) // let the first exchange use r alone
				start = time.Now()
			}
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatalf("no response before the close: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("got %s %q; want 408", resp.Status, body)
			}
			if el := time.Since(start); el > timeout+5*time.Second {
				t.Errorf("408 after %v; the timeout is %v", el, timeout)
			}
			if _, err := r.ReadByte(); err != io.EOF {
				t.Errorf("after the 408: %v; want the connection closed", err)
			}
		})
	}
	t.Run("others-served", func(t *testing.T) {
		t.Parallel()
		defer close(done)
		for range 5 {
			resp, err := http.Get("http://" + srv.http + "/index.txt")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("a well-behaved client got %s", resp.Status)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
