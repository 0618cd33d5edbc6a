package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// IsHTTPURL reports whether a player URL is HTTP-FLV (http://) or
// WebSocket-FLV (ws://) rather than RTMP.
func IsHTTPURL(u string) bool {
	return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "ws://")
}

// startHTTPSession requests an HTTP-FLV stream (or opens a WebSocket to
// it) and returns once the response head is read: the stream's bytes
// follow, and the session needs nothing sent back (no acknowledgements).
func startHTTPSession(ctx context.Context, rawURL string, timeout time.Duration) (*session, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, &setupError{"url", fmt.Errorf("%q: want http://host:port/app/name.flv or ws://…", rawURL)}
	}
	start := time.Now()
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, &setupError{"dial", err}
	}
	cc := &countingConn{Conn: c}
	c.SetDeadline(start.Add(timeout))
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	s := &session{conn: cc}
	want := "200"
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: bbllive-bench\r\n"
	if u.Scheme == "ws" {
		var key [16]byte
		rand.Read(key[:])
		req += "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
			base64.StdEncoding.EncodeToString(key[:]) + "\r\n"
		want = "101"
	}
	if _, err := c.Write([]byte(req + "\r\n")); err != nil {
		c.Close()
		return nil, &setupError{"request", err}
	}
	head, err := readHead(bufio.NewReaderSize(cc, 4096))
	if err != nil {
		c.Close()
		return nil, &setupError{"response", err}
	}
	if status := strings.Fields(head + " "); len(status) < 2 || status[1] != want {
		c.Close()
		return nil, &setupError{"response", fmt.Errorf("%q, want %s", strings.SplitN(head, "\r\n", 2)[0], want)}
	}
	s.hsBytes = uint64(len(head))
	s.connected = time.Since(start)
	if s.received() > 0 {
		s.firstMedia = time.Now()
	}
	c.SetDeadline(time.Time{})
	return s, nil
}

// readHead reads a response head up to its empty line (at most 16 KiB).
func readHead(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for b.Len() < 16<<10 {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\r\n" || line == "\n" {
			return b.String(), nil
		}
	}
	return b.String(), fmt.Errorf("response head over 16 KiB")
}
