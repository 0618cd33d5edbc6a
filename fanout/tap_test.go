package fanout

import (
	"sync"
	"testing"

	"github.com/bbllive/bbllive/rtmp"
)

// recordTap keeps copies of what it is handed.
type recordTap struct {
	mu   sync.Mutex
	msgs []rtmp.Message
}

func (r *recordTap) TapMessage(m *rtmp.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *m
	c.Payload = append([]byte(nil), m.Payload...)
	r.msgs = append(r.msgs, c)
}

func TestTapSeesHeadersThenCorrectedTimeline(t *testing.T) {
	h := newTestHub(Config{})
	s := publishTo(t, h, "live/tap")
	ingest(t, s, rtmp.TypeVideo, 5000, avcSeq())
	ingest(t, s, rtmp.TypeAudio, 5000, aacSeq())
	ingest(t, s, rtmp.TypeVideo, 5000, frame(true, 10))
	tap := &recordTap{}
	remove := s.AddTap(tap)
	ingest(t, s, rtmp.TypeVideo, 5040, frame(false, 10))
	// A reconnecting publisher whose clock restarts: the tap follows the
	// stream's timeline, not the publisher's.
	s.detachPublisher(s.publisher)
	if err := s.attachPublisher(&publisher{s: s}); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, rtmp.TypeVideo, 0, frame(true, 10))
	remove()
	ingest(t, s, rtmp.TypeVideo, 40, frame(false, 10))

	want := []struct {
		typ uint8
		ts  uint32
		seq bool
	}{{rtmp.TypeVideo, 0, true}, {rtmp.TypeAudio, 0, true}, {rtmp.TypeVideo, 40, false}, {rtmp.TypeVideo, 80, false}}
	if len(tap.msgs) != len(want) {
		t.Fatalf("tap got %d messages, want %d: %+v", len(tap.msgs), len(want), tap.msgs)
	}
	for i, w := range want {
		m := tap.msgs[i]
		if m.Type != w.typ || m.Timestamp != w.ts || rtmp.IsSequenceHeader(m.Type, m.Payload) != w.seq {
			t.Errorf("message %d: type %d ts %d seq %v, want %+v", i, m.Type, m.Timestamp, rtmp.IsSequenceHeader(m.Type, m.Payload), w)
		}
	}
}

// BenchmarkIngestTapped is ingest with one (empty) tap attached; without
// a tap, ingest pays one atomic load for it.
func BenchmarkIngestTapped(b *testing.B) {
	h := newTestHub(Config{})
	s := publishTo(b, h, "live/tapbench")
	ingest(b, s, rtmp.TypeVideo, 0, avcSeq())
	s.AddTap(TapFunc(func(*rtmp.Message) {}))
	p := frame(false, 4000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ingest(b, s, rtmp.TypeVideo, uint32(i*40), p)
	}
}
