package fanout

import (
	"bytes"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// Stream is one live stream: one Output (encoder and wire log) per format
// that has players, what a joining player needs first (metadata and
// sequence headers), the GOP cache, and its players.
type Stream struct {
	key string
	hub *Hub

	mu        sync.Mutex
	publisher *publisher
	published bool // has ever had a publisher
	players   map[*Player]struct{}
	links     map[*link]struct{} // pushes of the stream out of this server (link.go)
	outputs   []*Output          // one per format with players; written to under mu
	gop       gopCache           // frames from the newest keyframe, for new outputs
	meta      []byte             // onMetaData body, as players receive it
	videoSeq  []byte
	audioSeq  []byte
	grace     *time.Timer
	graceEnd  time.Time // when grace fires
	removed   bool
	// endNoticed: players were told the stream ended (publisher_loss.go).
	endNoticed bool
	// resume is what players who stay across a publisher change already
	// have, and their prefix (publisher_loss.go).
	resume resumeState

	// Owned by the current publisher's goroutine.
	tl       timeline
	sawVideo bool
	frame    Frame // ingest's, reused: a local would escape through Encoder

	logBytes logBytesCounter // bytes serialized into all outputs so far
	stats    StreamStats
	taps     tapSet // remuxers fed from ingest (tap.go)
}

// StreamStats are a stream's running totals.
type StreamStats struct {
	BytesIn, MessagesIn  atomic.Uint64
	BytesOut             atomic.Uint64
	Keyframes            atomic.Uint64
	Skips, SlowDrops     atomic.Uint64
	Publishes            atomic.Uint64
	PlayersTotal         atomic.Uint64
	FirstFrameNanosTotal atomic.Uint64
}

func newStream(h *Hub, key string) *Stream {
	s := &Stream{key: key, hub: h, players: map[*Player]struct{}{}}
	s.gop.max = h.cfg.MaxCache
	return s
}

// Key is "app/name".
func (s *Stream) Key() string { return s.key }

// Stats are the stream's counters.
func (s *Stream) Stats() *StreamStats { return &s.stats }

// Live reports whether a publisher is attached.
func (s *Stream) Live() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publisher != nil
}

// PlayerCount is the number of attached players.
func (s *Stream) PlayerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.players)
}

// Head is how many bytes have been serialized for the stream's players,
// over every format, so far.
func (s *Stream) Head() uint64 { return s.logBytes.Load() }

// GOPBytes is the size of the GOP cache: the frames from the newest
// keyframe.
func (s *Stream) GOPBytes() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint64(s.gop.size())
}

// ingest serializes one published message into every output, once per
// format. It runs on the publisher's goroutine and allocates nothing for
// audio and video.
func (s *Stream) ingest(m *rtmp.Message) error {
	f := &s.frame
	*f = Frame{Type: m.Type, Payload: m.Payload}
	var aside *[]byte
	// onMetaData goes out at time 0, as nginx-rtmp sends it: libavformat's
	// FLV demuxer reads metadata only at time 0 and opens a "Subtitle:
	// text" stream for one stamped later (a reconnecting publisher's, or a
	// late joiner's). It does not move the timeline either: the new
	// publisher's first frame does.
	metadata := false
	kind := videoFrame
	switch m.Type {
	case rtmp.TypeVideo:
		s.sawVideo = true
		if rtmp.IsVideoSequenceHeader(m.Payload) {
			aside = &s.videoSeq
		} else {
			f.Key = rtmp.IsKeyframe(m.Payload)
		}
	case rtmp.TypeAudio:
		kind = audioFrame
		if rtmp.IsAudioSequenceHeader(m.Payload) {
			aside = &s.audioSeq
		} else {
			f.Key = !s.sawVideo // audio-only: every frame is a place to start
		}
	case rtmp.TypeDataAMF0:
		kind = noTrack
		if meta, ok := rtmp.MetadataPayload(m.Payload); ok {
			f.Payload = meta
			aside = &s.meta
			metadata = true
		}
	default:
		return nil
	}
	if aside != nil {
		kind = noTrack // a sequence header
	}
	if !metadata {
		f.Timestamp = s.tl.next(kind, m.Timestamp)
	}
	s.mu.Lock()
	if aside != nil {
		s.keepAside(aside, f.Payload)
	}
	s.gop.add(f)
	for _, o := range s.outputs {
		o.enc.Encode(&o.wire, f)
	}
	key := f.Key
	tapped := rtmp.Message{Type: f.Type, StreamID: rtmp.MediaStreamID, Timestamp: f.Timestamp, Payload: f.Payload}
	f.Payload = nil // the publisher's buffer is not the stream's to keep
	// The taps are read under mu, so that AddTapWithGOP, which replays the
	// GOP cache and attaches under mu, splits the frames exactly: each is
	// in the replay or in the live feed, never both or neither.
	taps := s.taps.list.Load()
	s.mu.Unlock()
	if taps != nil {
		deliver(*taps, tapped)
	}
	s.stats.BytesIn.Add(uint64(len(m.Payload)))
	s.stats.MessagesIn.Add(1)
	if key {
		s.stats.Keyframes.Add(1)
	}
	switch s.hub.cfg.Flush {
	case FlushMessage:
		s.flush()
	case FlushGOP:
		if key {
			s.flush()
		}
	}
	return nil
}

// flush tells the transport that every output of s has something new (or
// lost a player).
func (s *Stream) flush() {
	var buf [4]*Output
	s.mu.Lock()
	outs := append(buf[:0], s.outputs...)
	s.mu.Unlock()
	for _, o := range outs {
		s.hub.flushOutput(o)
	}
}

// keepAside stores a copy of what joining players must get first. Called
// with s.mu held.
func (s *Stream) keepAside(dst *[]byte, p []byte) {
	if bytes.Equal(*dst, p) {
		return
	}
	*dst = append([]byte(nil), p...)
	s.headersChanged()
}

// appendControl serializes a message that is not media (stream begin/EOF,
// publish notifications) into the outputs whose format carries such
// messages (RTMP). Called with s.mu held, by whoever is the stream's
// writer at that moment.
func (s *Stream) appendControl(m *rtmp.Message) {
	for _, o := range s.outputs {
		if ce, ok := o.enc.(controlEncoder); ok {
			ce.encodeControl(&o.wire, m)
		}
	}
}

func (s *Stream) appendStatus(code, desc string) {
	ts := uint32(max(s.tl.head(), 0))
	s.appendControl(&rtmp.Message{Type: rtmp.TypeCommandAMF0, CSID: rtmp.CSIDData, StreamID: rtmp.MediaStreamID,
		Timestamp: ts, Payload: rtmp.OnStatusPayload("status", code, desc)})
}

func (s *Stream) appendUserControl(event uint16) {
	p := []byte{byte(event >> 8), byte(event), 0, 0, 0, rtmp.MediaStreamID}
	s.appendControl(&rtmp.Message{Type: rtmp.TypeUserControl, CSID: rtmp.CSIDControl, Payload: p})
}

// attachPublisher makes p the stream's writer.
func (s *Stream) attachPublisher(p *publisher) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return errStreamGone
	}
	if s.publisher != nil {
		return errAlreadyPublishing
	}
	s.publisher = p
	s.stopGrace()
	s.endNoticed = false
	if s.published {
		s.appendUserControl(0) // StreamBegin
		s.appendStatus(rtmp.CodePlayPublishNotify, s.key+" is now published.")
	}
	s.published = true
	for _, o := range s.outputs {
		o.wire.newEpoch()
	}
	s.gop.reset()
	s.resume.remember(s)
	s.meta, s.videoSeq, s.audioSeq = nil, nil, nil
	s.headersChanged()
	s.sawVideo = false
	s.tl.resync = true
	s.stats.Publishes.Add(1)
	return nil
}

// detachPublisher releases the stream from p and starts the grace period
// in which a publisher may return to the same players. Players hear of it
// only when p unpublished cleanly (publisher_loss.go says why).
func (s *Stream) detachPublisher(p *publisher) {
	defer p.letGo()
	s.mu.Lock()
	if s.publisher != p {
		s.mu.Unlock()
		return
	}
	s.publisher = nil
	if p.loss.clean {
		s.appendEndNotice()
	}
	s.forgetKeyframe() // joiners wait for the next publisher, not a stale GOP
	s.startGrace()
	s.mu.Unlock()
	s.flush()
}

// startGrace arms the timer that ends a stream nobody publishes. Called
// with s.mu held.
func (s *Stream) startGrace() {
	s.stopGrace()
	d := s.graceFor()
	s.grace, s.graceEnd = time.AfterFunc(d, s.expire), time.Now().Add(d)
}

// GraceLeft reports, while the stream has no publisher, how much longer it
// waits for one before it ends; ok is false while a publisher is attached
// or once the stream has ended.
func (s *Stream) GraceLeft() (left time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.publisher != nil || s.removed || s.grace == nil {
		return 0, false
	}
	return max(time.Until(s.graceEnd), 0), true
}

func (s *Stream) stopGrace() {
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
}

// expire ends a stream whose publisher did not come back in time: its
// players are told so, closed a moment later, and its memory released.
func (s *Stream) expire() {
	h := s.hub
	h.mu.Lock()
	s.mu.Lock()
	if s.publisher != nil || s.removed {
		s.mu.Unlock()
		h.mu.Unlock()
		return
	}
	s.removed = true
	if h.streams[s.key] == s {
		delete(h.streams, s.key)
	}
	players := make([]*Player, 0, len(s.players))
	for p := range s.players {
		players = append(players, p)
	}
	published := s.published
	if len(players) > 0 && published {
		s.appendEndNotice()
	}
	s.mu.Unlock()
	h.mu.Unlock()
	if len(players) > 0 && !published {
		h.logger.Info("nobody published the name within the play wait; answering not found", "stream", s.key, "players", len(players), "play_wait", h.cfg.PlayWait)
		s.notFound(players)
	}
	if len(players) == 0 || !published {
		s.flush() // lets senders drop the stream's outputs
		s.dropOutputs()
		return
	}
	h.logger.Info("no publisher within grace; closing players", "stream", s.key, "players", len(players), "grace", h.cfg.PublishGrace)
	s.flush() // the end notice
	time.AfterFunc(endDrain, func() {
		for _, p := range players {
			p.disconnect("no_publisher")
		}
		s.flush() // lets senders drop the stream's outputs
		s.dropOutputs()
	})
}

// dropOutputs frees every output's log once the stream is gone.
func (s *Stream) dropOutputs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.outputs) > 0 {
		s.dropOutput(s.outputs[0])
	}
}

// forgetKeyframe stops new players, of every format, from starting in
// what is cached. Called with s.mu held.
func (s *Stream) forgetKeyframe() {
	for _, o := range s.outputs {
		o.wire.forgetKeyframe()
	}
	s.gop.reset()
}

// addPlayer attaches p to the stream's output in format f (created with
// the format's first player) and sets where it begins to wait.
func (s *Stream) addPlayer(p *Player, f Format) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return errStreamGone
	}
	o := s.outputFor(f)
	o.players++
	p.stream, p.out = s, o
	p.waitFrom, p.epoch = o.wire.joinPoint()
	s.players[p] = struct{}{}
	s.stats.PlayersTotal.Add(1)
	return nil
}

// removePlayer detaches p; its format's output goes with its last player.
func (s *Stream) removePlayer(p *Player) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.players[p]; !ok {
		return
	}
	delete(s.players, p)
	if o := p.out; o != nil && !o.dropped {
		if o.players--; o.players == 0 {
			s.dropOutput(o)
		}
	}
}

// logger tags lines with the stream.
func (s *Stream) logger() *slog.Logger { return s.hub.logger.With("stream", s.key) }
