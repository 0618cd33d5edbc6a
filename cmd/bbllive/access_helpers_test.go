package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/access"
	"github.com/bbllive/bbllive/fanout/hls/hlstest"
	"github.com/bbllive/bbllive/fanout/logtest"
	"github.com/bbllive/bbllive/fanout/tlstest"
	"github.com/bbllive/bbllive/fanout/websocket"
	"github.com/bbllive/bbllive/rtmp"
)

// accessServer is a test server started from a command line (so that it
// can reload), with its -api address when it has one.
type accessServer struct {
	*testServer
	api   string
	rtmps string // the RTMPS listener, when started with tlsFlags
}

// startAccessServer runs `bbllive serve` in-process from serverArgs(opts).
func startAccessServer(t *testing.T, opts ...string) *accessServer {
	t.Helper()
	// Without serverArgs' -log-level debug: a level on the command line
	// would beat the one in a reloaded config file.
	return startAccessServerLeaving(t, []string{"-log-level"}, opts...)
}

// startAccessServerLeaving is startAccessServer with the flags leave (and
// their values) left out of serverArgs, for the config file to set.
func startAccessServerLeaving(t *testing.T, leave []string, opts ...string) *accessServer {
	t.Helper()
	var args []string
	for i, base := 0, serverArgs(t, nil); i < len(base); i++ {
		if slices.Contains(leave, base[i]) {
			i++
			continue
		}
		args = append(args, base[i])
	}
	c, err := parseServeArgs(append(args, opts...))
	if err != nil {
		t.Fatal(err)
	}
	c.levelVar = new(slog.LevelVar)
	if err := setLogLevel(c.levelVar, c.logLevel); err != nil {
		t.Fatal(err)
	}
	srv := &accessServer{testServer: &testServer{logs: &logtest.Buffer{}}}
	c.onHTTP = func(a net.Addr) { srv.http = a.String() }
	c.onAPI = func(a net.Addr) { srv.api = a.String() }
	c.tls.onListen = func(a net.Addr) { srv.rtmps = a.String() }
	log := slog.New(slog.NewTextHandler(io.MultiWriter(srv.logs, testLogWriter{t}), &slog.HandlerOptions{Level: c.levelVar}))
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, c, log, func(a net.Addr) { addrc <- a.String() }) }()
	select {
	case srv.addr = <-addrc:
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	}
	stopAtCleanup(t, cancel, done)
	return srv
}

// tokenFor signs a token with secret, failing the test on error.
func tokenFor(t testing.TB, secret string, a access.Action, stream string, ttl time.Duration) string {
	t.Helper()
	tok, err := access.Mint(access.MintOptions{Action: a, Stream: stream, TTL: ttl, Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tlsFlags give a server an RTMPS listener on loopback with a fresh
// self-signed certificate (accessServer.rtmps is its address).
func tlsFlags(t *testing.T) []string {
	t.Helper()
	cert, key := tlstest.WriteFiles(t, t.TempDir(), 1)
	return []string{"-listen-tls", "127.0.0.1:0", "-tls-cert", cert, "-tls-key", key}
}

// defaultDialer is the client side of most tests: any loopback source.
var defaultDialer = &net.Dialer{Timeout: 5 * time.Second}

// rtmpDial connects to an rtmp:// or rtmps:// URL through d (so from d's
// source address), trusting any certificate, and runs the connect command.
func rtmpDial(d *net.Dialer, url string) (*rtmp.Client, error) {
	addr, app, name, err := rtmp.ParseURL(url)
	if err != nil {
		return nil, err
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	scheme, _, _ := strings.Cut(url, "://")
	if scheme == "rtmps" {
		conn = tls.Client(conn, &tls.Config{InsecureSkipVerify: true}) // the test's self-signed certificate
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := rtmp.NewClient(conn, app, name, scheme+"://"+addr+"/"+app)
	if err := c.Connect(); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// rtmpPublish publishes url and returns the client, or the refusal.
func rtmpPublish(url string) (*rtmp.Client, error) { return rtmpPublishFrom(defaultDialer, url) }

// rtmpPublishFrom is rtmpPublish through d.
func rtmpPublishFrom(d *net.Dialer, url string) (*rtmp.Client, error) {
	c, err := rtmpDial(d, url)
	if err != nil {
		return nil, err
	}
	if err := c.Publish(); err != nil {
		c.Close()
		return nil, err
	}
	c.Conn().SetDeadline(time.Time{}) // the caller publishes as long as it likes
	return c, nil
}

// errPlayEnded is a play that the server ended without a status.
var errPlayEnded = errors.New("the server closed the connection")

// errRefusedAfterStart is a refusal that came after NetStream.Play.Start:
// a player takes the start for admission, so a refusal must come first.
var errRefusedAfterStart = errors.New("refused after NetStream.Play.Start")

// rtmpPlayOutcome plays url until the first media message (nil) or an
// error status (its code and description), within 10 s. A refusal must be
// the first status and alone: the connection then closes. One after
// Play.Start is errRefusedAfterStart, which no wantRefusal accepts.
func rtmpPlayOutcome(url string) error { return rtmpPlayOutcomeFrom(defaultDialer, url) }

// rtmpPlayOutcomeFrom is rtmpPlayOutcome through d (rtmp:// or rtmps://).
func rtmpPlayOutcomeFrom(d *net.Dialer, url string) error {
	c, err := rtmpDial(d, url)
	if err != nil {
		return err
	}
	defer c.Close()
	c.Conn().SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Play(); err != nil {
		if m, rerr := c.ReadMessage(); rerr == nil {
			return fmt.Errorf("%v, then a message of type %d instead of the close", err, m.Type)
		}
		return err
	}
	for {
		m, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("%w: %v", errPlayEnded, err)
		}
		switch m.Type {
		case rtmp.TypeAudio, rtmp.TypeVideo:
			return nil
		case rtmp.TypeCommandAMF0:
			cmd, err := rtmp.ParseCommand(m.Type, m.Payload)
			if err != nil || cmd.Name != "onStatus" || len(cmd.Args) == 0 {
				continue
			}
			if o, ok := cmd.Args[0].(rtmp.Object); ok && o.String("level") == "error" {
				if o.String("code") == rtmp.CodePlayStreamNotFound {
					// Nobody published in time: admitted, then not found.
					return fmt.Errorf("%s (%s)", o.String("code"), o.String("description"))
				}
				return fmt.Errorf("%w: %s (%s)", errRefusedAfterStart, o.String("code"), o.String("description"))
			}
		}
	}
}

// apiCall makes an HTTP request with an optional bearer token and returns
// the status and body.
func apiCall(t testing.TB, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body)
}

// httpClientFrom is an HTTP client that dials through d.
func httpClientFrom(d *net.Dialer, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// httpPlayOutcome plays an HTTP-FLV (or fMP4) URL until its first 24
// bytes (the FLV file header and a tag's start; an fMP4 init segment's
// start); a refusal is an error naming the status and the answer.
func httpPlayOutcome(url string) error { return httpPlayOutcomeFrom(defaultDialer, url) }

// httpPlayOutcomeFrom is httpPlayOutcome through d.
func httpPlayOutcomeFrom(d *net.Dialer, url string) error {
	resp, err := httpClientFrom(d, 10*time.Second).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	head := make([]byte, 9+4+11) // file header, previous tag size, a tag header
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		return fmt.Errorf("%w: %v", errPlayEnded, err)
	}
	return nil
}

// hlsPlayOutcome plays a protected HLS stream as a player that knows only
// the playlist URL: the multivariant playlist, its variant (the media
// playlist), and the first segment that lists. nil once the segment
// arrives, else the refusal as the client saw it ("HTTP 401: …").
func hlsPlayOutcome(playlist string) error { return hlsPlayOutcomeFrom(defaultDialer, playlist) }

// hlsPlayOutcomeFrom is hlsPlayOutcome through d.
func hlsPlayOutcomeFrom(d *net.Dialer, playlist string) error {
	c := httpClientFrom(d, 20*time.Second)
	get := func(u string) ([]byte, error) {
		resp, err := c.Get(u)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
		}
		return body, nil
	}
	base := playlist[:strings.LastIndexByte(playlist, '/')+1]
	body, err := get(playlist)
	if err != nil {
		return err
	}
	lines := strings.Fields(string(body))
	if len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-2], "#EXT-X-STREAM-INF") {
		return fmt.Errorf("not a multivariant playlist: %s", body)
	}
	if body, err = get(base + lines[len(lines)-1]); err != nil {
		return fmt.Errorf("media playlist: %w", err)
	}
	pl, err := hlstest.Parse(body)
	if err != nil {
		return err
	}
	if _, err := get(base + pl.Segments[0].URI); err != nil {
		return fmt.Errorf("segment: %w", err)
	}
	return nil
}

// wsPlayOutcome plays path on addr over WebSocket through d until the
// first binary frame after the upgrade (nil); a refused upgrade is an
// error naming the status and the answer, as httpPlayOutcome's.
func wsPlayOutcome(d *net.Dialer, addr, path string) error {
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", path, addr, key)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	w := &wsClient{c: c, br: br}
	if op, _, err := w.next(); err != nil || op != websocket.OpBinary {
		return fmt.Errorf("%w: first frame op %d: %v", errPlayEnded, op, err)
	}
	return nil
}

// wantRefusal checks err is a refusal naming code and reason.
func wantRefusal(t testing.TB, err error, code, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("admitted; want %s (%s)", code, reason)
	}
	if errors.Is(err, errRefusedAfterStart) || !strings.Contains(err.Error(), code) || !strings.Contains(err.Error(), reason) {
		t.Fatalf("%v; want %s with %s", err, code, reason)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// streamLive reports whether /api/streams has key with a publisher.
func streamLive(t testing.TB, httpAddr, key string) bool {
	var rows []streamRow
	getJSON(t, httpAddr, "/api/streams", &rows)
	for _, r := range rows {
		if r.Stream == key {
			return r.Live
		}
	}
	return false
}

// dialerFrom is a dialer whose connections come from ip (a loopback
// address other than 127.0.0.1, for the address lists); it skips the
// test, naming the address, when connecting from ip to addr fails.
func dialerFrom(t *testing.T, ip, addr string) *net.Dialer {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot connect from %s on this machine's loopback: %v", ip, err)
	}
	c.Close()
	return d
}

// streamPlayer is an HTTP-FLV, fMP4 or WebSocket player that keeps
// reading until the server ends it, counting what it receives.
type streamPlayer struct {
	c    net.Conn
	n    atomic.Int64  // bytes of the body (or frames) received
	done chan struct{} // closed when the server ended the stream
}

// startStreamPlayer plays path (/APP/NAME.flv or .mp4) on addr, over a
// WebSocket when ws is set, and fails the test unless it is admitted.
func startStreamPlayer(t *testing.T, addr, path string, ws bool) *streamPlayer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	upgrade := ""
	if ws {
		upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, addr, upgrade)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[bool]int{false: http.StatusOK, true: http.StatusSwitchingProtocols}[ws]; resp.StatusCode != want {
		t.Fatalf("%s: %s, want %d", path, resp.Status, want)
	}
	p := &streamPlayer{c: c, done: make(chan struct{})}
	var body io.Reader = resp.Body
	if ws {
		body = br
	}
	go func() {
		defer close(p.done)
		buf := make([]byte, 32<<10)
		for {
			n, err := body.Read(buf)
			p.n.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	return p
}

// ended waits up to d for the server to end the player's stream.
func (p *streamPlayer) ended(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// connID is the id /api/connections lists for the connection from local.
func connID(t *testing.T, srv *accessServer, local net.Addr) uint64 {
	t.Helper()
	rows := apiConnRows(t, srv.http)
	for _, r := range rows {
		if r.Peer == local.String() {
			return r.ID
		}
	}
	t.Fatalf("no connection from %s in %+v", local, rows)
	return 0
}
