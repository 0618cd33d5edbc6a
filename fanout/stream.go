package fanout

import (
	"bytes"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// Stream is one live stream: its wire log, what a joining player needs
// first (metadata and sequence headers), and its players.
type Stream struct {
	key string
	hub *Hub
	log wireLog

	mu        sync.Mutex
	publisher *publisher
	published bool // has ever had a publisher
	players   map[*Player]struct{}
	meta      []byte // onMetaData body, as players receive it
	videoSeq  []byte
	audioSeq  []byte
	prefix    []byte // cached join prefix for prefixPos
	prefixPos uint64
	grace     *time.Timer
	removed   bool

	// Owned by the current publisher's goroutine.
	tl       timeline
	scratch  []byte
	sawVideo bool

	stats StreamStats
	taps  tapSet // remuxers fed from ingest (tap.go)
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
	s := &Stream{key: key, hub: h, players: map[*Player]struct{}{}, prefixPos: noPos}
	s.log.init(h.cfg.LagWindow, h.cfg.MaxCache)
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

// Head is the wire log's size so far in bytes.
func (s *Stream) Head() uint64 { return s.log.head.Load() }

// GOPBytes is the size of the GOP cache: the log from the newest keyframe.
func (s *Stream) GOPBytes() uint64 {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	if s.log.keyPos == noPos {
		return 0
	}
	return s.log.head.Load() - s.log.keyPos
}

// ingest serializes one published message into the wire log. It runs on the
// publisher's goroutine and allocates nothing for audio and video.
func (s *Stream) ingest(m *rtmp.Message) error {
	out := rtmp.Message{Type: m.Type, StreamID: rtmp.MediaStreamID, Payload: m.Payload}
	key := false
	switch m.Type {
	case rtmp.TypeVideo:
		out.CSID = rtmp.CSIDVideo
		s.sawVideo = true
		if rtmp.IsVideoSequenceHeader(m.Payload) {
			s.keepAside(&s.videoSeq, m.Payload)
		} else {
			key = rtmp.IsKeyframe(m.Payload)
		}
	case rtmp.TypeAudio:
		out.CSID = rtmp.CSIDAudio
		if rtmp.IsAudioSequenceHeader(m.Payload) {
			s.keepAside(&s.audioSeq, m.Payload)
		} else {
			key = !s.sawVideo // audio-only: every frame is a place to start
		}
	case rtmp.TypeDataAMF0:
		out.CSID = rtmp.CSIDData
		if meta, ok := rtmp.MetadataPayload(m.Payload); ok {
			out.Payload = meta
			s.keepAside(&s.meta, meta)
		}
	default:
		return nil
	}
	out.Timestamp = s.tl.next(m.Timestamp)
	s.taps.send(out)
	s.scratch = rtmp.AppendMessage(s.scratch[:0], &out, s.hub.cfg.ChunkSize)
	s.log.append(s.scratch, key, out.Timestamp)
	s.stats.BytesIn.Add(uint64(len(m.Payload)))
	s.stats.MessagesIn.Add(1)
	if key {
		s.stats.Keyframes.Add(1)
	}
	switch s.hub.cfg.Flush {
	case FlushMessage:
		s.hub.transport.Flush(s)
	case FlushGOP:
		if key {
			s.hub.transport.Flush(s)
		}
	}
	return nil
}

// keepAside stores a copy of what joining players must get first.
func (s *Stream) keepAside(dst *[]byte, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bytes.Equal(*dst, p) {
		return
	}
	*dst = append([]byte(nil), p...)
	s.prefixPos = noPos
}

// joinPrefix returns the messages a player starting at the keyframe at
// keyPos gets first — metadata, then sequence headers — stamped with the
// keyframe's time. It is built once per GOP and shared by its joiners.
func (s *Stream) joinPrefix(keyPos uint64, keyTS uint32) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prefixPos == keyPos {
		return s.prefix
	}
	var b []byte
	cs := s.hub.cfg.ChunkSize
	add := func(typ uint8, csid uint32, p []byte) {
		if p != nil {
			b = rtmp.AppendMessage(b, &rtmp.Message{Type: typ, CSID: csid, StreamID: rtmp.MediaStreamID, Timestamp: keyTS, Payload: p}, cs)
		}
	}
	add(rtmp.TypeDataAMF0, rtmp.CSIDData, s.meta)
	add(rtmp.TypeVideo, rtmp.CSIDVideo, s.videoSeq)
	add(rtmp.TypeAudio, rtmp.CSIDAudio, s.audioSeq)
	s.prefix, s.prefixPos = b, keyPos
	return b
}

// appendControl serializes a message that is not media (stream begin/EOF,
// publish notifications) into the log. Called with s.mu held, by whoever
// is the log's writer at that moment.
func (s *Stream) appendControl(m *rtmp.Message) {
	s.scratch = rtmp.AppendMessage(s.scratch[:0], m, s.hub.cfg.ChunkSize)
	s.log.append(s.scratch, false, m.Timestamp)
}

func (s *Stream) appendStatus(code, desc string) {
	ts := uint32(s.tl.last)
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
	if s.published {
		s.appendUserControl(0) // StreamBegin
		s.appendStatus(rtmp.CodePlayPublishNotify, s.key+" is now published.")
	}
	s.published = true
	s.log.newEpoch()
	s.meta, s.videoSeq, s.audioSeq, s.prefixPos = nil, nil, nil, noPos
	s.sawVideo = false
	s.tl.resync = true
	s.stats.Publishes.Add(1)
	return nil
}

// detachPublisher tells players the publisher left and starts the grace
// period in which it may return to the same players.
func (s *Stream) detachPublisher(p *publisher) {
	s.mu.Lock()
	if s.publisher != p {
		s.mu.Unlock()
		return
	}
	s.publisher = nil
	s.appendUserControl(1) // StreamEOF
	s.appendStatus(rtmp.CodePlayUnpublish, s.key+" is now unpublished.")
	s.log.forgetKeyframe() // joiners wait for the next publisher, not a stale GOP
	s.startGrace()
	s.mu.Unlock()
	s.hub.transport.Flush(s)
}

// startGrace arms the timer that ends a stream nobody publishes. Called
// with s.mu held.
func (s *Stream) startGrace() {
	s.stopGrace()
	s.grace = time.AfterFunc(s.hub.cfg.PublishGrace, s.expire)
}

func (s *Stream) stopGrace() {
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
}

// expire ends a stream whose publisher did not come back in time: its
// players are closed and its memory released.
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
	s.mu.Unlock()
	h.mu.Unlock()
	if len(players) > 0 {
		h.log.Info("no publisher within grace; closing players", "stream", s.key, "players", len(players), "grace", h.cfg.PublishGrace)
	}
	for _, p := range players {
		p.disconnect("no_publisher")
	}
	h.transport.Flush(s) // lets senders drop the stream
	s.log.release()
}

func (s *Stream) addPlayer(p *Player) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return errStreamGone
	}
	s.players[p] = struct{}{}
	s.stats.PlayersTotal.Add(1)
	return nil
}

func (s *Stream) removePlayer(p *Player) {
	s.mu.Lock()
	delete(s.players, p)
	s.mu.Unlock()
}

// logger tags lines with the stream.
func (s *Stream) logger() *slog.Logger { return s.hub.log.With("stream", s.key) }
