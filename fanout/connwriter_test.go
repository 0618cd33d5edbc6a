package fanout

import (
	"crypto/tls"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/tlstest"
	"github.com/bbllive/bbllive/rtmp"
)

// tlsPair wraps a loopback pair in TLS and completes the handshake.
func tlsPair(t *testing.T, client, server net.Conn) (tlsClient, tlsServer net.Conn) {
	t.Helper()
	scfg, ccfg := tlstest.Configs(t)
	ccfg.ServerName = "127.0.0.1"
	tc, ts := tls.Client(client, ccfg), tls.Server(server, scfg)
	errc := make(chan error, 1)
	go func() { errc <- ts.Handshake() }()
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return tc, ts
}

// slowPlayerRig publishes a stream on a netpoll hub with a 256 KiB lag
// window and attaches a player on a loopback connection with small
// buffers, over TLS (the connWriter) or plain (netpoll); it returns the
// client end to read.
func slowPlayerRig(t *testing.T, useTLS bool, slowTimeout time.Duration) (*Stream, *Player, net.Conn) {
	t.Helper()
	cfg := Config{Flush: FlushInterval, FlushInterval: 5 * time.Millisecond,
		LagWindow: 256 << 10, MaxCache: 16 << 20, SlowTimeout: slowTimeout, Workers: 1}
	h := NewHub(cfg, NewNetpoll(cfg), testLogger(t))
	t.Cleanup(func() { h.Close() })
	s := publishTo(t, h, "live/slow")
	ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
	// Buffers small enough that the reader is the bottleneck at once, yet
	// above two of loopback's 64 KiB segments: below that the receiver
	// never opens its window by a whole segment, and the sender waits for
	// the 200 ms zero-window probe instead of the reader.
	client, server := loopbackPair(t, 128<<10)
	if useTLS {
		client, server = tlsPair(t, client, server)
	}
	p := attachPlayerOn(t, h, s, server)
	if got := h.transportFor(server); useTLS != (got.Name() == "conn") {
		t.Fatalf("the player is on the %s transport", got.Name())
	}
	return s, p, client
}

// A slow TLS player, written by the connWriter, gets what a slow plain
// player gets: it skips to the newest keyframe once it lags past the lag
// window, only ever at a keyframe, every byte intact, and it is not
// dropped while it keeps within the slow timeout.
func TestSlowTLSPlayerSkipsLikePlain(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "tls"}[useTLS]
		t.Run(name, func(t *testing.T) {
			s, p, client := slowPlayerRig(t, useTLS, time.Minute)
			res := &readerResult{}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); verifyReader(client, testRTMP.ChunkSize, 2*time.Millisecond, res) }()
			time.Sleep(50 * time.Millisecond) // attached, waiting for a keyframe

			rng := rand.New(rand.NewPCG(3, 4))
			const total = 2000 // ~17 MiB at ~20 MB/s against a reader of ~4 MB/s
			for seq := uint32(0); seq < total; seq++ {
				ingest(t, s, rtmp.TypeVideo, seq*10, checkedPayload(rng, seq, seq%100 == 0, 8000+rng.IntN(1000)))
				if seq%4 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			time.Sleep(200 * time.Millisecond)
			gone := p.gone.Load()
			client.Close()
			wg.Wait()
			t.Logf("%s: %d messages, %d skips to a keyframe; player skips %d, slow drops %d",
				name, res.messages, res.gapsAtKey, p.Skips.Load(), s.stats.SlowDrops.Load())
			if gone || s.stats.SlowDrops.Load() > 0 {
				t.Errorf("the slow player was dropped (%d slow drops)", s.stats.SlowDrops.Load())
			}
			if p.Skips.Load() == 0 || res.gapsAtKey == 0 {
				t.Errorf("the slow player never skipped to a keyframe (skips %d, gaps at keyframes %d)", p.Skips.Load(), res.gapsAtKey)
			}
			if res.bad > 0 || res.gapsElsewhere > 0 {
				t.Errorf("%d corrupted messages, %d gaps not at a keyframe", res.bad, res.gapsElsewhere)
			}
		})
	}
}

// A TLS player that reads nothing is dropped as a plain one is: once it
// has been behind for the slow timeout, counted as a slow drop, and not
// before.
func TestStalledTLSPlayerDroppedAtSlowTimeout(t *testing.T) {
	const slow = 500 * time.Millisecond
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "tls"}[useTLS]
		t.Run(name, func(t *testing.T) {
			s, p, client := slowPlayerRig(t, useTLS, slow)
			rng := rand.New(rand.NewPCG(5, 6))
			start := time.Now()
			var seq uint32
			for !p.gone.Load() && time.Since(start) < 5*time.Second {
				ingest(t, s, rtmp.TypeVideo, seq*10, checkedPayload(rng, seq, seq%25 == 0, 2000))
				seq++
				time.Sleep(2 * time.Millisecond)
			}
			el := time.Since(start)
			if !p.gone.Load() || s.stats.SlowDrops.Load() != 1 {
				t.Fatalf("after %v: gone %v, slow drops %d; want dropped as slow", el, p.gone.Load(), s.stats.SlowDrops.Load())
			}
			if el < slow {
				t.Errorf("dropped after %v, before the slow timeout of %v", el, slow)
			}
			t.Logf("%s: dropped after %v", name, el)
			client.Close()
		})
	}
}
