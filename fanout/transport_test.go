package fanout

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bbllive/bbllive/rtmp"
	"github.com/bbllive/bbllive/uring"
)

// transports lists every Transport under test; each test below runs once
// per entry so all transports meet the same bar.
var transports = []struct {
	name string
	make func(t *testing.T, cfg Config) Transport
}{
	{"netpoll", func(t *testing.T, cfg Config) Transport { return NewNetpoll(cfg) }},
	{"uring-writev", uringTransport(SendWritev)},
	{"uring-write_fixed", uringTransport(SendWriteFixed)},
	{"uring-send_zc", uringTransport(SendZC)},
}

// uringTransport makes an io_uring transport, skipping (with the reason)
// where the kernel does not allow io_uring.
func uringTransport(mode SendMode) func(t *testing.T, cfg Config) Transport {
	return func(t *testing.T, cfg Config) Transport {
		if err := uring.Available(); err != nil {
			t.Skipf("io_uring unavailable: %v", err)
		}
		tr, err := NewUring(cfg, UringOptions{Mode: mode, RegisteredBytes: 8 << 20, Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("NewUring(%v): %v", mode, err)
		}
		return tr
	}
}

// attachConnPlayer connects a loopback TCP pair and attaches the server side
// as a player of s; the client side is returned for reading.
func attachConnPlayer(t *testing.T, h *Hub, s *Stream, rcvbuf int) net.Conn {
	t.Helper()
	client, server := loopbackPair(t, rcvbuf)
	attachPlayerOn(t, h, s, server)
	return client
}

// loopbackPair connects a loopback TCP pair, the client's receive buffer
// and the server's send buffer set to bufSize when it is positive.
func loopbackPair(t *testing.T, bufSize int) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if bufSize > 0 {
		client.(*net.TCPConn).SetReadBuffer(bufSize)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if bufSize > 0 {
		server.(*net.TCPConn).SetWriteBuffer(bufSize)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return client, server
}

// attachPlayerOn attaches server as a player of s on the transport the hub
// picks for it (the connWriter for a TLS connection).
func attachPlayerOn(t *testing.T, h *Hub, s *Stream, server net.Conn) *Player {
	t.Helper()
	p := &Player{conn: server, waiting: true, joined: time.Now()}
	if err := s.addPlayer(p, testRTMP); err != nil {
		t.Fatal(err)
	}
	if err := h.transportFor(server).Add(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// testLogger shows the hub's log lines in verbose test output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// checkedPayload is a video payload that carries its own sequence number
// and checksum, so a reader detects any byte that changed in flight.
func checkedPayload(rng *rand.Rand, seq uint32, key bool, n int) []byte {
	p := make([]byte, n)
	p[0], p[1] = 0x27, 1
	if key {
		p[0] = 0x17
	}
	binary.BigEndian.PutUint32(p[2:], seq)
	for i := 10; i < n; i++ {
		p[i] = byte(rng.Uint32())
	}
	binary.BigEndian.PutUint32(p[6:], crc32.ChecksumIEEE(p[10:]))
	return p
}

type readerResult struct {
	progress      atomic.Int64 // messages so far, for the test to wait on while the reader runs
	messages, bad int
	lastSeq       uint32
	gapsAtKey     int // jumps in sequence that land on a keyframe (skips)
	gapsElsewhere int
	err           error
}

// verifyReader parses the player's bytes and checks every video payload.
func verifyReader(conn net.Conn, chunkSize uint32, delay time.Duration, res *readerResult) {
	pre := rtmp.AppendMessage(nil, &rtmp.Message{Type: rtmp.TypeSetChunkSize, CSID: 2,
		Payload: binary.BigEndian.AppendUint32(nil, chunkSize)}, 128)
	cr := rtmp.NewChunkReader(io.MultiReader(bytes.NewReader(pre), conn), rtmp.DefaultLimits)
	first := true
	for {
		m, err := cr.ReadMessage()
		if err != nil {
			res.err = err
			return
		}
		if m.Type != rtmp.TypeVideo || len(m.Payload) < 10 || rtmp.IsVideoSequenceHeader(m.Payload) {
			continue
		}
		seq := binary.BigEndian.Uint32(m.Payload[2:])
		if crc32.ChecksumIEEE(m.Payload[10:]) != binary.BigEndian.Uint32(m.Payload[6:]) {
			res.bad++
		}
		if !first && seq != res.lastSeq+1 {
			if rtmp.IsKeyframe(m.Payload) {
				res.gapsAtKey++
			} else {
				res.gapsElsewhere++
			}
		}
		first = false
		res.lastSeq = seq
		res.messages++
		res.progress.Store(int64(res.messages))
		if delay > 0 {
			time.Sleep(delay)
		}
	}
}

// TestTransportIntegrityUnderWrap publishes checksummed messages fast
// enough that the wire log recycles its blocks many times while a slow
// reader lags; every byte any player receives must be intact, fast players
// must get everything, and the slow one may only ever jump to a keyframe.
func TestTransportIntegrityUnderWrap(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			cfg := Config{Flush: FlushInterval, FlushInterval: 5 * time.Millisecond,
				LagWindow: 512 << 10, MaxCache: 4 << 20, SlowTimeout: time.Minute, Workers: 2}
			h := NewHub(cfg, tr.make(t, cfg), testLogger(t))
			defer h.Close()
			s := publishTo(t, h, "live/wrap")
			ingest(t, s, rtmp.TypeVideo, 0, avcSeq())

			const fast = 4
			results := make([]*readerResult, fast+1)
			var wg sync.WaitGroup
			for i := range results {
				results[i] = &readerResult{}
				delay, rcv := time.Duration(0), 0
				if i == fast {
					delay, rcv = 2*time.Millisecond, 16<<10 // the slow one
				}
				conn := attachConnPlayer(t, h, s, rcv)
				wg.Add(1)
				go func() { defer wg.Done(); verifyReader(conn, testRTMP.ChunkSize, delay, results[i]) }()
			}
			time.Sleep(50 * time.Millisecond) // players attached, waiting for a keyframe

			rng := rand.New(rand.NewPCG(1, 2))
			const total = 3000 // ~25 MiB through a 4 MiB cache: about 6 wraps
			var published atomic.Uint32
			for seq := uint32(0); seq < total; seq++ {
				key := seq%100 == 0
				ingest(t, s, rtmp.TypeVideo, seq*10, checkedPayload(rng, seq, key, 8000+rng.IntN(1000)))
				published.Store(seq)
				if seq%4 == 0 {
					time.Sleep(time.Millisecond) // ~20 MB/s: fast readers keep up
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for _, r := range results[:fast] {
				for r.progress.Load() < total && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
			}
			h.Close()
			s.mu.Lock()
			for p := range s.players {
				p.conn.Close()
			}
			s.mu.Unlock()
			wg.Wait()
			for i, r := range results {
				if r.bad > 0 {
					t.Errorf("player %d: %d of %d messages corrupted", i, r.bad, r.messages)
				}
				if r.gapsElsewhere > 0 {
					t.Errorf("player %d: %d gaps not at a keyframe", i, r.gapsElsewhere)
				}
				if i < fast && (r.messages != total || r.gapsAtKey > 0) {
					t.Errorf("fast player %d: %d of %d messages, %d skips", i, r.messages, total, r.gapsAtKey)
				}
			}
			slow := results[fast]
			t.Logf("slow player: %d messages, %d skips to a keyframe; stream skips %d, slow drops %d",
				slow.messages, slow.gapsAtKey, s.stats.Skips.Load(), s.stats.SlowDrops.Load())
			if s.stats.Skips.Load() == 0 && s.stats.SlowDrops.Load() == 0 {
				t.Error("the slow player was neither skipped nor dropped: the test did not exercise lag")
			}
		})
	}
}

// TestPausedPlayerSkippedOnEveryTransport: a player that stops reading for
// a second, well within the slow timeout, lags by megabytes meanwhile;
// every transport must skip it to the newest keyframe once it lags past
// the lag window rather than deliver the backlog late, and must keep it.
// On io_uring, whose bounded writes to such a player wait for room and
// then complete whole, the lag once went unseen (no skip at all).
func TestPausedPlayerSkippedOnEveryTransport(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			cfg := Config{Flush: FlushInterval, FlushInterval: 5 * time.Millisecond,
				LagWindow: 256 << 10, MaxCache: 32 << 20, SlowTimeout: time.Minute, Workers: 1}
			h := NewHub(cfg, tr.make(t, cfg), testLogger(t))
			defer h.Close()
			s := publishTo(t, h, "live/pause")
			ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
			client, server := loopbackPair(t, 0) // default buffers: they autotune to megabytes
			p := attachPlayerOn(t, h, s, server)
			res := &readerResult{}
			var wg sync.WaitGroup
			wg.Add(1)
			paused := &pausingConn{Conn: client, at: time.Now().Add(300 * time.Millisecond), pause: time.Second}
			go func() { defer wg.Done(); verifyReader(paused, testRTMP.ChunkSize, 0, res) }()

			rng := rand.New(rand.NewPCG(7, 8))
			start := time.Now()
			for seq := uint32(0); time.Since(start) < 2*time.Second; seq++ { // ~8 MB/s
				ingest(t, s, rtmp.TypeVideo, seq*10, checkedPayload(rng, seq, seq%50 == 0, 8000))
				time.Sleep(time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // it reads at full speed again
			gone := p.gone.Load()
			client.Close()
			wg.Wait()
			t.Logf("%d messages, %d skips to a keyframe; player skips %d", res.messages, res.gapsAtKey, p.Skips.Load())
			if gone {
				t.Error("the paused player was dropped within the slow timeout")
			}
			if p.Skips.Load() == 0 || res.gapsAtKey == 0 {
				t.Errorf("the paused player was never skipped to a keyframe (skips %d, gaps at keyframes %d)", p.Skips.Load(), res.gapsAtKey)
			}
			if res.bad > 0 || res.gapsElsewhere > 0 {
				t.Errorf("%d corrupted messages, %d gaps not at a keyframe", res.bad, res.gapsElsewhere)
			}
		})
	}
}

// pausingConn stops reading for pause once at comes.
type pausingConn struct {
	net.Conn
	at     time.Time
	pause  time.Duration
	paused bool
}

func (c *pausingConn) Read(b []byte) (int, error) {
	if !c.paused && time.Now().After(c.at) {
		c.paused = true
		time.Sleep(c.pause)
	}
	return c.Conn.Read(b)
}
