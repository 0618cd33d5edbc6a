package hls

import (
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/rtmp"
)

// queued is one tapped message, its payload copied off the ingest path.
type queued struct {
	typ     uint8
	ts      uint32
	gap     bool // messages were dropped just before this one
	payload []byte
}

// remuxer is one stream's HLS: a tap feeding a bounded queue, a goroutine
// running the segmenter, and what it publishes, read by HTTP requests.
type remuxer struct {
	stream *fanout.Stream
	epoch  string // names this run's files
	q      chan queued
	done   chan struct{}
	exited chan struct{}
	untap  func()

	// Tap side, on the ingesting goroutine.
	dropping atomic.Bool // queue overflowed: drop until a keyframe
	dropped  atomic.Uint64

	lastRequest atomic.Int64 // unix nanoseconds

	mu      sync.Mutex
	seg     *segmenter
	wake    chan struct{} // closed and replaced at every change
	version uint64        // increments at every change
	cached  []byte        // rendered playlist of cachedV
	cachedV uint64
	cachedQ string // the URIs' query cached was rendered with
}

func newRemuxer(st *fanout.Stream, cfg Config, log *slog.Logger) *remuxer {
	m := &remuxer{stream: st, epoch: strconv.FormatInt(time.Now().UnixMilli(), 36),
		q: make(chan queued, cfg.QueueLen), done: make(chan struct{}), exited: make(chan struct{}),
		wake: make(chan struct{})}
	m.seg = newSegmenter(cfg, log.With("stream", st.Key()), m.changed)
	m.touch()
	go m.run()
	// Starting from the cached GOP, as a joining player does, the first
	// segment is complete at the next keyframe instead of a whole segment
	// after it; the newest cached frame anchors the wall clock, so the
	// replayed parts carry the time they were live.
	m.untap = st.AddTapWithGOP(m, func(newest uint32, ok bool) {
		if ok {
			m.mu.Lock()
			m.seg.anchor(int64(newest), time.Now())
			m.mu.Unlock()
		}
	})
	return m
}

// TapMessage implements fanout.Tap: it copies the message into the queue
// and never blocks. When the queue is full, media is dropped up to the
// next video keyframe (sequence headers and metadata always try).
func (m *remuxer) TapMessage(msg *rtmp.Message) {
	if msg.Type != rtmp.TypeVideo && msg.Type != rtmp.TypeAudio {
		return
	}
	header := rtmp.IsSequenceHeader(msg.Type, msg.Payload)
	gap := false
	if m.dropping.Load() && !header {
		if msg.Type != rtmp.TypeVideo || !rtmp.IsKeyframe(msg.Payload) {
			m.dropped.Add(1)
			return
		}
		gap = true
	}
	select {
	case m.q <- queued{typ: msg.Type, ts: msg.Timestamp, gap: gap, payload: append([]byte(nil), msg.Payload...)}:
		if gap {
			m.dropping.Store(false)
		}
	default:
		m.dropped.Add(1)
		m.dropping.Store(true)
	}
}

func (m *remuxer) run() {
	defer close(m.exited)
	for {
		select {
		case q := <-m.q:
			m.mu.Lock()
			m.seg.handle(q.typ, q.ts, q.payload, q.gap)
			m.mu.Unlock()
		case <-m.done:
			return
		}
	}
}

// changed wakes every waiting request. Called with m.mu held.
func (m *remuxer) changed() {
	m.version++
	close(m.wake)
	m.wake = make(chan struct{})
}

// stop detaches the tap and ends the goroutine; memory goes with m.
func (m *remuxer) stop() {
	m.untap()
	close(m.done)
	<-m.exited
}

func (m *remuxer) touch() { m.lastRequest.Store(time.Now().UnixNano()) }

func (m *remuxer) idle(now time.Time, d time.Duration) bool {
	return now.Sub(time.Unix(0, m.lastRequest.Load())) > d
}
