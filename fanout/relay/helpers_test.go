package relay

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/rtmp"
)

// testOrigin is a real bbllive RTMP server (hub + netpoll transport) on a
// loopback port.
type testOrigin struct {
	addr   string
	scheme string // rtmp or rtmps
	srv    *rtmp.Server
	hub    *fanout.Hub
}

func startOrigin(t *testing.T) *testOrigin {
	t.Helper()
	o, err := tryOriginOn(t, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// tryOriginOn starts an origin listening on addr.
func tryOriginOn(t *testing.T, addr string) (*testOrigin, error) {
	t.Helper()
	cfg := fanout.Config{Flush: fanout.FlushMessage}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := fanout.NewHub(cfg, fanout.NewNetpoll(cfg), log)
	srv := &rtmp.Server{Handler: hub, Logger: log, ChunkSize: rtmp.DefaultServerChunkSize}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	o := &testOrigin{addr: ln.Addr().String(), srv: srv, hub: hub, scheme: "rtmp"}
	go srv.Serve(ln)
	t.Cleanup(o.stop)
	return o, nil
}

func (o *testOrigin) stop() { o.srv.Close(); o.hub.Close() }

// publish pushes a synthetic H.264 stream to key on the origin until the
// test ends; every frame's last byte is tag, so a sink can tell which origin
// a frame came through.
func (o *testOrigin) publish(t *testing.T, key string, tag byte) {
	o.publishWith(t, &rtmp.Dialer{}, key, tag)
}

func (o *testOrigin) publishWith(t *testing.T, d *rtmp.Dialer, key string, tag byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, o.scheme+"://"+o.addr+"/"+key)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); c.Close() })
	go func() {
		c.WriteMessage(&rtmp.Message{Type: rtmp.TypeVideo, Payload: []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f}})
		for i := uint32(0); ; i++ {
			key := byte(0x27)
			if i%25 == 0 {
				key = 0x17
			}
			m := &rtmp.Message{Type: rtmp.TypeVideo, Timestamp: i * 40, Payload: []byte{key, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, tag}}
			if c.WriteMessage(m) != nil || c.Flush() != nil {
				return
			}
			select {
			case <-done:
				return
			case <-time.After(40 * time.Millisecond):
			}
		}
	}()
}

// recordingSink passes the tag of every video frame it receives to a
// channel, dropping when nobody reads.
type recordingSink chan byte

func (s recordingSink) WriteMessage(m *rtmp.Message) error {
	if m.Type == rtmp.TypeVideo && len(m.Payload) > 5 && m.Payload[1] == 1 {
		select {
		case s <- m.Payload[len(m.Payload)-1]:
		default:
		}
	}
	return nil
}

// waitTag waits up to within for a frame tagged tag.
func waitTag(t *testing.T, s recordingSink, tag byte, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case got := <-s:
			if got == tag {
				return
			}
		case <-deadline:
			t.Fatalf("no frame from origin %d within %s", tag, within)
		}
	}
}

// behindTLS puts a TLS terminator in front of o, as users put stunnel or
// an nginx stream block in front of an RTMP server, and returns o as seen
// through it (rtmps://).
func behindTLS(t *testing.T, o *testOrigin, cfg *tls.Config) *testOrigin {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", o.addr)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	return &testOrigin{addr: ln.Addr().String(), scheme: "rtmps", srv: o.srv, hub: o.hub}
}
