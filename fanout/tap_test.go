package fanout

import (
	"fmt"
	"runtime"
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

func TestTapWithGOPStartsAtCachedKeyframe(t *testing.T) {
	tests := []struct {
		name     string
		key      bool     // a keyframe was ingested before the tap
		wantTS   []uint32 // media timestamps the tap gets, in order
		edge     uint32
		edgeSeen bool
	}{
		{"mid-GOP", true, []uint32{40, 80, 120}, 80, true},
		{"nothing cached", false, []uint32{120}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHub(Config{})
			s := publishTo(t, h, "live/gop")
			ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
			ingest(t, s, rtmp.TypeVideo, 0, frame(false, 10)) // before any keyframe: never cached
			ingest(t, s, rtmp.TypeVideo, 40, frame(tc.key, 10))
			ingest(t, s, rtmp.TypeVideo, 80, frame(false, 10))
			tap := &recordTap{}
			var edge uint32
			var seen, early bool
			s.AddTapWithGOP(tap, func(newest uint32, ok bool) {
				edge, seen, early = newest, ok, len(tap.msgs) == 0
			})
			ingest(t, s, rtmp.TypeVideo, 120, frame(false, 10))
			if edge != tc.edge || seen != tc.edgeSeen || !early {
				t.Errorf("edge called with (%d, %v), before any message %v; want (%d, %v), true", edge, seen, early, tc.edge, tc.edgeSeen)
			}
			var got []uint32
			for _, m := range tap.msgs {
				if !rtmp.IsSequenceHeader(m.Type, m.Payload) {
					got = append(got, m.Timestamp)
				}
			}
			if !rtmp.IsSequenceHeader(tap.msgs[0].Type, tap.msgs[0].Payload) {
				t.Errorf("first message is not the sequence header: %+v", tap.msgs[0])
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantTS) {
				t.Errorf("tap got media at %v, want %v", got, tc.wantTS)
			}
		})
	}
}

// TestTapWithGOPWhileIngesting attaches while the publisher goes on: the
// replay and the live feed meet exactly, no frame twice or missing.
func TestTapWithGOPWhileIngesting(t *testing.T) {
	h := newTestHub(Config{})
	s := publishTo(t, h, "live/gop")
	ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
	const frames, gop = 3000, 10
	// The first frame's timestamp starts the stream's timeline at 0.
	ingest(t, s, rtmp.TypeVideo, 0, frame(true, 10))
	done := make(chan error)
	go func() {
		for i := 1; i < frames; i++ {
			if err := s.ingest(&rtmp.Message{Type: rtmp.TypeVideo, Timestamp: uint32(i * 40), Payload: frame(i%gop == 0, 10)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for s.Stats().MessagesIn.Load() < frames/2 { // let the publisher get going
		runtime.Gosched()
	}
	tap := &recordTap{}
	s.AddTapWithGOP(tap, func(uint32, bool) {})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var ts []uint32
	for _, m := range tap.msgs {
		if !rtmp.IsSequenceHeader(m.Type, m.Payload) {
			ts = append(ts, m.Timestamp)
		}
	}
	if len(ts) == 0 || ts[0]%(gop*40) != 0 {
		t.Fatalf("tap starts at %v, want a keyframe (a multiple of %d)", ts[:min(len(ts), 1)], gop*40)
	}
	for i := 1; i < len(ts); i++ {
		if ts[i] != ts[i-1]+40 {
			t.Fatalf("frame %d at %d follows %d: a frame was replayed twice or missed", i, ts[i], ts[i-1])
		}
	}
	if last := ts[len(ts)-1]; last != (frames-1)*40 {
		t.Errorf("tap ends at %d, want %d", last, (frames-1)*40)
	}
}
