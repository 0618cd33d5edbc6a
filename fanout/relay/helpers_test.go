package relay

import (
	"context"
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
	addr string
	srv  *rtmp.Server
	hub  *fanout.Hub
}

func startOrigin(t *testing.T) *testOrigin {
	t.Helper()
	cfg := fanout.Config{Flush: fanout.FlushMessage}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := fanout.NewHub(cfg, fanout.NewNetpoll(cfg), log)
	srv := &rtmp.Server{Handler: hub, Logger: log, ChunkSize: fanout.DefaultChunkSize}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	o := &testOrigin{addr: ln.Addr().String(), srv: srv, hub: hub}
	t.Cleanup(o.stop)
	return o
}

func (o *testOrigin) stop() { o.srv.Close(); o.hub.Close() }

// publish pushes a synthetic H.264 stream to key on the origin until the
// test ends; every frame's last byte is tag, so a sink can tell which origin
// a frame came through.
func (o *testOrigin) publish(t *testing.T, key string, tag byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rtmp.Dial(ctx, "rtmp://"+o.addr+"/"+key)
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
