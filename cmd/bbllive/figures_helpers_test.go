package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/tlstest"
	"github.com/bbllive/bbllive/rtmp"
)

// leavingPlayer is a player of any protocol that counts what it reads and
// can leave (close its connection) while media flows.
type leavingPlayer struct {
	conn net.Conn
	n    atomic.Int64
	// request is what an HTTP player sent: its request, all the server
	// receives from it.
	request int
}

// count reads conn until it fails, counting bytes.
func (p *leavingPlayer) count() {
	buf := make([]byte, 64<<10)
	for {
		n, err := p.conn.Read(buf)
		p.n.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// leave closes the player's connection.
func (p *leavingPlayer) leave() { p.conn.Close() }

// startLeavingPlayer plays the stream live/<name> from srv over one of the
// protocols of figuresServer: "http-flv" on -http, "ws-flv" and "fmp4" on
// -http-play, "rtmps" on -listen-tls.
func startLeavingPlayer(t *testing.T, srv *figuresServer, kind, name string) *leavingPlayer {
	t.Helper()
	var conn net.Conn
	request := 0
	switch kind {
	case "http-flv", "ws-flv", "fmp4":
		addr, path, upgrade := srv.http, "/live/"+name+".flv", ""
		switch kind {
		case "ws-flv":
			addr = srv.play
			upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		case "fmp4":
			addr, path = srv.play, "/live/"+name+".mp4"
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		n, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, addr, upgrade)
		if err != nil {
			t.Fatal(err)
		}
		conn, request = c, n
	case "rtmps":
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := (&rtmp.Dialer{TLSConfig: &tls.Config{InsecureSkipVerify: true}}).Dial(ctx, "rtmps://"+srv.tls+"/live/"+name)
		if err != nil {
			t.Fatalf("rtmps player: %v", err)
		}
		if err := c.Play(); err != nil {
			c.Close()
			t.Fatalf("rtmps play: %v", err)
		}
		conn = c.Conn()
	default:
		t.Fatalf("no player kind %q", kind)
	}
	p := &leavingPlayer{conn: conn, request: request}
	t.Cleanup(p.leave)
	go p.count()
	return p
}

// figuresServer is a server with every listener that serves players: RTMP,
// RTMPS (-listen-tls), HTTP (-http) and a playback-only one (-http-play).
type figuresServer struct {
	*testServer
	tls, play string
}

// startFiguresServer starts a figuresServer with opts.
func startFiguresServer(t *testing.T, opts ...string) *figuresServer {
	t.Helper()
	certFile, keyFile := tlstest.WriteFiles(t, t.TempDir(), 1)
	tlsc, playc := make(chan string, 1), make(chan string, 1)
	srv := startServerWith(t, func(c *serveConfig) {
		c.tls.onListen = func(a net.Addr) { tlsc <- a.String() }
		c.media.onPlay = func(a net.Addr) { playc <- a.String() }
	}, append([]string{"-listen-tls", "127.0.0.1:0", "-tls-cert", certFile, "-tls-key", keyFile, "-http-play", "127.0.0.1:0"}, opts...)...)
	return &figuresServer{testServer: srv, tls: <-tlsc, play: <-playc}
}

// figureSources are the two sources of kernel figures a test runs with:
// the eBPF probes (the default as root) and TCP_INFO (-bpf=false, as
// where eBPF cannot load).
var figureSources = []struct {
	name string
	args []string
}{{"bpf", nil}, {"tcp_info", []string{"-bpf=false"}}}

// streamFigures are a stream's byte counters on /metrics: the server's
// own and the kernel's.
type streamFigures struct {
	appOut, appIn, kOut, kIn float64
}

// lastStreamFigures scrapes httpAddr until the kernel series of every one
// of streams ended (a stream whose connections all closed is exported
// once more with their final figures, then not at all), for at most five
// seconds, and returns the last figures each stream had. It fails t for a
// stream never seen.
func lastStreamFigures(t *testing.T, httpAddr string, streams []string) map[string]streamFigures {
	t.Helper()
	last := map[string]streamFigures{}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		s := scrape(t, httpAddr)
		ended := 0
		for _, stream := range streams {
			kOut, ok := series(s, "bbllive_stream_kernel_sent_bytes_total", "stream="+stream)
			if !ok {
				if _, seen := last[stream]; seen {
					ended++
				}
				continue
			}
			f := last[stream]
			f.kOut = kOut
			f.kIn, _ = series(s, "bbllive_stream_kernel_received_bytes_total", "stream="+stream)
			if v, ok := series(s, "bbllive_stream_sent_bytes_total", "stream="+stream); ok {
				f.appOut = v // gone with the stream once -publish-grace is over
			}
			if v, ok := series(s, "bbllive_stream_received_bytes_total", "stream="+stream); ok {
				f.appIn = v
			}
			last[stream] = f
		}
		if ended == len(streams) {
			break
		}
	}
	for _, stream := range streams {
		if _, ok := last[stream]; !ok {
			t.Fatalf("no kernel figures of %s on /metrics", stream)
		}
	}
	return last
}
