package fanout

import (
	"testing"
	"time"

	"github.com/bbllive/bbllive/rtmp"
	"golang.org/x/sys/unix"
)

// This file lends the external tests (package fanout_test, which may
// import the formats that import fanout: flv, fmp4) the in-memory players
// the internal benchmarks use.

// MemStream is a published stream of a hub with no transport: its players
// are written to by a MemSender's passes.
type MemStream struct{ s *Stream }

// NewMemStream publishes key on a fresh hub.
func NewMemStream(tb testing.TB, key string) *MemStream {
	return &MemStream{s: publishTo(tb, newTestHub(Config{}), key)}
}

// Ingest is a publisher's message arriving.
func (ms *MemStream) Ingest(m *rtmp.Message) error { return ms.s.ingest(m) }

// AddPlayers attaches n players of format f, as Hub.PlayConn does (head,
// the protocol's response, first), and returns their sender.
func (ms *MemStream) AddPlayers(n int, f Format, head []byte) *MemSender {
	snd := newMemSender()
	for range n {
		p := &Player{waiting: true, joined: time.Now()}
		if err := ms.s.addPlayer(p, f); err != nil {
			panic(err)
		}
		if len(head) > 0 {
			p.queueControl(head, false)
		}
		snd.players = append(snd.players, p)
	}
	return snd
}

// MemSender does for players of one output what a transport's pass does,
// with writes that take everything offered: plan, build the iovecs,
// advance. Bytes counts what it "wrote".
type MemSender struct {
	players []*Player
	v       logView
	iov     []unix.Iovec
	Bytes   uint64
}

func newMemSender() *MemSender { return &MemSender{iov: make([]unix.Iovec, 0, maxIovecs+1)} }

// Pass writes every player up to the head of its log.
func (snd *MemSender) Pass() {
	if len(snd.players) == 0 {
		return
	}
	now := time.Now()
	snd.v.take(&snd.players[0].out.wire)
	for _, p := range snd.players {
		st, ok := p.plan(&snd.v, now)
		if !ok {
			continue
		}
		snd.iov = st.iovecs(snd.iov[:0], &snd.v)
		total := 0
		for _, x := range snd.iov {
			total += int(x.Len)
		}
		p.advance(st, total, now)
		snd.Bytes += uint64(total)
	}
	snd.v.release()
}

// BenchFanout ingests 4 KiB video messages, a keyframe every 50, with one
// pass of snd after each: one op. After a warm-up, so that the log has
// recycled its blocks (steady state), it must allocate nothing.
func BenchFanout(b *testing.B, ms *MemStream, snd *MemSender) {
	for _, p := range [][]byte{avcSeq(), frame(true, 4096)} {
		if err := ms.Ingest(&rtmp.Message{Type: rtmp.TypeVideo, Payload: p}); err != nil {
			b.Fatal(err)
		}
	}
	key, inter := frame(true, 4096), frame(false, 4096)
	var m rtmp.Message
	op := func(i int) {
		m = rtmp.Message{Type: rtmp.TypeVideo, Timestamp: uint32(40 * i), Payload: inter}
		if i%50 == 49 {
			m.Payload = key
		}
		if err := ms.Ingest(&m); err != nil {
			b.Fatal(err)
		}
		snd.Pass()
	}
	// Warm up in the same shape until the log recycles its blocks and the
	// GOP cache has its size (steady state).
	const warmup = 2000
	for i := range warmup {
		op(i)
	}
	if want := uint64(len(snd.players) * warmup * len(inter)); snd.Bytes < want {
		b.Fatalf("the players were written %d bytes of the %d published to them", snd.Bytes, want)
	}
	b.SetBytes(int64(len(inter)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		op(warmup + i)
	}
}
