package fanout

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/bbllive/bbllive/rtmp"
)

// Tap is how a consumer that is not a player — a remuxer such as HLS —
// sees a stream: every audio, video and metadata message as ingested,
// with the stream's corrected timestamp, so it follows the same monotonic
// timeline as the players across publisher reconnects.
type Tap interface {
	// TapMessage is called on the ingesting goroutine (the publisher's,
	// or an io_uring worker's) and may be called concurrently while
	// AddTap runs. It must not block — hand the message to another
	// goroutine through a bounded queue — and must not keep m.Payload
	// after it returns (copy what it needs).
	TapMessage(m *rtmp.Message)
}

// tapSet is a stream's taps. Ingest reads it with one atomic load, and
// pays nothing more while no tap is attached.
type tapSet struct {
	mu   sync.Mutex // serializes changes
	list atomic.Pointer[[]Tap]
}

// deliver hands m to every tap. m is passed by value so that ingest's
// message stays on its stack: only deliver, with taps attached, moves its
// copy to the heap.
func deliver(taps []Tap, m rtmp.Message) {
	for _, t := range taps {
		t.TapMessage(&m)
	}
}

func (ts *tapSet) change(f func([]Tap) []Tap) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var cur []Tap
	if l := ts.list.Load(); l != nil {
		cur = *l
	}
	next := f(slices.Clone(cur))
	if len(next) == 0 {
		ts.list.Store(nil)
		return
	}
	ts.list.Store(&next)
}

// AddTap attaches t to the stream. t first receives the stream's current
// metadata and sequence headers (timestamp 0: they describe, they do not
// play), then every message ingested from now on; a sequence header that
// arrives meanwhile is never delivered before the older one. The returned
// function detaches t; after it returns t gets no more messages.
func (s *Stream) AddTap(t Tap) (remove func()) {
	release := s.hub.Want(s.key, "") // a remuxer watches too (hooks.go)
	s.taps.change(func(l []Tap) []Tap { return append(l, t) })
	s.mu.Lock()
	// Held while the snapshot is delivered: keepAside, which stores a
	// newer header before ingest taps it, waits for us.
	s.tapHeaders(t)
	s.mu.Unlock()
	return s.untap(t, release)
}

// AddTapWithGOP is AddTap for a consumer that would rather not wait for
// the next keyframe: after the headers, t receives the cached GOP — the
// frames from the newest keyframe on, as a joining player gets them —
// then every message ingested afterwards, none twice and none missed.
// Before any of it, edge is called (on the caller's goroutine, with the
// stream locked: it must be quick) with the timestamp of the newest cached
// frame, which was live a moment ago, or ok false when nothing is cached
// (a new GOP starts with the next keyframe).
func (s *Stream) AddTapWithGOP(t Tap, edge func(newest uint32, ok bool)) (remove func()) {
	release := s.hub.Want(s.key, "")
	s.mu.Lock()
	newest, ok := uint32(0), false
	s.gop.replay(func(f *Frame) {
		if f.Type == rtmp.TypeVideo || f.Type == rtmp.TypeAudio {
			newest, ok = max(newest, f.Timestamp), true
		}
	})
	edge(newest, ok)
	s.tapHeaders(t)
	s.gop.replay(func(f *Frame) {
		t.TapMessage(&rtmp.Message{Type: f.Type, StreamID: rtmp.MediaStreamID, Timestamp: f.Timestamp, Payload: f.Payload})
	})
	// Attached under mu: ingest reads the taps under mu too, so the frames
	// replayed above are exactly those it will not deliver.
	s.taps.change(func(l []Tap) []Tap { return append(l, t) })
	s.mu.Unlock()
	return s.untap(t, release)
}

// tapHeaders gives t the stream's metadata and sequence headers. Called
// with s.mu held.
func (s *Stream) tapHeaders(t Tap) {
	for _, h := range []struct {
		typ uint8
		p   []byte
	}{{rtmp.TypeDataAMF0, s.meta}, {rtmp.TypeVideo, s.videoSeq}, {rtmp.TypeAudio, s.audioSeq}} {
		if h.p != nil {
			t.TapMessage(&rtmp.Message{Type: h.typ, StreamID: rtmp.MediaStreamID, Payload: h.p})
		}
	}
}

// untap is the function that detaches t and releases its demand.
func (s *Stream) untap(t Tap, release func()) func() {
	var once sync.Once
	return func() {
		s.taps.change(func(l []Tap) []Tap {
			return slices.DeleteFunc(l, func(x Tap) bool { return x == t })
		})
		once.Do(release)
	}
}

// Removed reports whether the stream has ended for good (no publisher
// within the grace period); a new stream of the same key may replace it.
func (s *Stream) Removed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removed
}

// TapFunc adapts a function to a Tap.
type TapFunc func(m *rtmp.Message)

// TapMessage calls f(m).
func (f TapFunc) TapMessage(m *rtmp.Message) { f(m) }
