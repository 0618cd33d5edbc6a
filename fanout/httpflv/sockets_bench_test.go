package httpflv_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/flv"
	"github.com/bbllive/bbllive/fanout/httpflv"
	"github.com/bbllive/bbllive/fanout/websocket"
	"github.com/bbllive/bbllive/rtmp"
	"github.com/bbllive/bbllive/uring"
)

// BenchmarkPlayersOverSockets is fanout.BenchmarkFormatsInMemory end to
// end: N HTTP-FLV or WebSocket-FLV players request the stream from this
// handler over loopback sockets, the hub's real transport writes to them,
// and one op is one 4 KiB message published (a Source) and received whole
// by every player. allocs/op counts the whole process — handler, hub,
// transport and the readers — so it must stay 0 whatever N: no allocation
// per message per player anywhere on the path.
func BenchmarkPlayersOverSockets(b *testing.B) {
	for _, tr := range []string{"netpoll", "uring"} {
		for _, ws := range []bool{false, true} {
			for _, n := range []int{1, 100} {
				proto := map[bool]string{false: "http-flv", true: "ws-flv"}[ws]
				b.Run(fmt.Sprintf("io=%s/proto=%s/players=%d", tr, proto, n), func(b *testing.B) {
					benchPlayersOverSockets(b, tr, ws, n)
				})
			}
		}
	}
}

// batch is how many messages the publisher may be ahead of the slowest
// player: well inside the lag window, so that nobody is skipped.
const batch = 32

func benchPlayersOverSockets(b *testing.B, transport string, ws bool, n int) {
	cfg := fanout.Config{Flush: fanout.FlushMessage, SlowTimeout: time.Minute}
	var t fanout.Transport
	switch transport {
	case "netpoll":
		t = fanout.NewNetpoll(cfg)
	case "uring":
		if err := uring.Available(); err != nil {
			b.Skipf("io_uring unavailable: %v", err)
		}
		u, err := fanout.NewUring(cfg, fanout.UringOptions{RegisteredBytes: 8 << 20, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		t = u
	}
	hub := fanout.NewHub(cfg, t, slog.New(slog.DiscardHandler))
	defer hub.Close()
	h := &httpflv.Handler{Hub: hub, Logger: slog.New(slog.DiscardHandler)}
	defer h.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()

	src, err := hub.PublishSource("live/b", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	publish := func(ts uint32, payload []byte) {
		if err := src.WriteMessage(&rtmp.Message{Type: rtmp.TypeVideo, Timestamp: ts, Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	publish(0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f})
	publish(0, videoFrame(true, 4096))

	readers := make([]*countingReader, n)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range readers {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		req := "GET /live/b.flv HTTP/1.1\r\nHost: bench\r\n\r\n"
		if ws {
			req = "GET /live/b.flv HTTP/1.1\r\nHost: bench\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
		}
		if _, err := io.WriteString(c, req); err != nil {
			b.Fatal(err)
		}
		readers[i] = &countingReader{}
		wg.Add(1)
		go func() { defer wg.Done(); readers[i].run(c) }()
	}
	waitAll(b, readers, 1) // everyone has its answer and the first keyframe

	key, inter := videoFrame(true, 4096), videoFrame(false, 4096)
	wire := uint64(len(flv.AppendTag(nil, rtmp.TypeVideo, 0, inter)))
	if ws {
		wire = uint64(len(websocket.AppendFrame(nil, websocket.OpBinary, make([]byte, wire))))
	}
	ts := uint32(0)
	op := func(i int) {
		ts += 40
		p := inter
		if i%50 == 49 {
			p = key
		}
		publish(ts, p)
	}
	for i := range 500 { // warm up: the log recycles its blocks
		op(i)
		if i%batch == batch-1 {
			waitAll(b, readers, 1)
		}
	}
	waitAll(b, readers, 1)
	base := make([]uint64, n)
	for i, r := range readers {
		base[i] = r.bytes.Load()
	}
	b.SetBytes(int64(len(inter)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		op(500 + i)
		if i%batch == batch-1 || i == b.N-1 {
			// Every player has every message up to i-batch (the keyframes
			// are as long as the other frames).
			waitBytes(b, readers, base, uint64(max(0, i+1-batch))*wire)
		}
	}
	final := uint64(b.N) * wire
	waitBytes(b, readers, base, final)
	b.StopTimer()
	for j, r := range readers {
		if got := r.bytes.Load() - base[j]; got != final {
			b.Fatalf("player %d received %d bytes for %d messages, want %d: skipped or duplicated", j, got, b.N, final)
		}
	}
}

// videoFrame is an AVC frame of n bytes.
func videoFrame(key bool, n int) []byte {
	p := make([]byte, n)
	p[0], p[1] = 0x27, 1
	if key {
		p[0] = 0x17
	}
	return p
}

// countingReader is a player that reads its connection into one buffer
// and counts the bytes.
type countingReader struct {
	bytes atomic.Uint64
	err   atomic.Pointer[error]
}

func (r *countingReader) run(c net.Conn) {
	buf := make([]byte, 256<<10)
	for {
		n, err := c.Read(buf)
		r.bytes.Add(uint64(n))
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				e := err // only a copy escapes, not every read's err
				r.err.Store(&e)
			}
			return
		}
	}
}

func (r *countingReader) failed() error {
	if e := r.err.Load(); e != nil {
		return *e
	}
	return nil
}

// waitBytes waits until reader j has received base[j]+want bytes.
func waitBytes(b *testing.B, readers []*countingReader, base []uint64, want uint64) {
	deadline := time.Now().Add(10 * time.Second)
	for j, r := range readers {
		for r.bytes.Load() < base[j]+want {
			if err := r.failed(); err != nil {
				b.Fatalf("player %d: %v", j, err)
			}
			if time.Now().After(deadline) {
				b.Fatalf("player %d has %d of %d bytes after 10s", j, r.bytes.Load()-base[j], want)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// waitAll waits until every reader has received at least minBytes, all
// the same count (they joined at the same keyframe), and none received
// anything for 20 ms: all that was sent has arrived.
func waitAll(b *testing.B, readers []*countingReader, minBytes uint64) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		first := readers[0].bytes.Load()
		settled := first >= minBytes
		for _, r := range readers {
			if err := r.failed(); err != nil {
				b.Fatal(err)
			}
			settled = settled && r.bytes.Load() == first
		}
		time.Sleep(20 * time.Millisecond)
		if settled && readers[0].bytes.Load() == first {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("players did not all receive the same bytes within 10s")
		}
	}
}
