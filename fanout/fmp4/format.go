package fmp4

import (
	"bytes"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/websocket"
	"github.com/bbllive/bbllive/rtmp"
)

// Format is the live fMP4 output of the fan-out (GET /APP/NAME.mp4): a
// player gets the CMAF init segment, then one moof+mdat fragment per video
// frame, serialized once per stream for all its players like an FLV tag.
// With WebSocket each fragment (and the init segment) is one binary frame.
type Format struct {
	WebSocket bool
}

// HTTP is fMP4 over plain HTTP; WebSocket is the same in binary frames.
var (
	HTTP      = Format{}
	WebSocket = Format{WebSocket: true}
)

// Name implements fanout.Format.
func (f Format) Name() string {
	if f.WebSocket {
		return "ws-fmp4"
	}
	return "fmp4"
}

// NewEncoder implements fanout.Format.
func (f Format) NewEncoder() fanout.Encoder { return &liveEncoder{ws: f.WebSocket} }

// Track IDs of the live stream: fixed, so that a new init segment after a
// publisher's reconnect describes the same tracks.
const (
	liveVideoID = 1
	liveAudioID = 2
)

// maxHeldAudio bounds the audio frames held for the next video frame's
// fragment (about 1 s at 44.1 kHz): a stream announcing video that sends
// none still delivers its audio.
const maxHeldAudio = 48

// liveEncoder cuts a fragment each time a video frame completes (its
// successor arrived and gave it a duration), with the audio that arrived
// meanwhile; an audio-only stream gets a fragment per audio frame. A
// fragment whose video starts with a keyframe is a start record. Frame
// payloads are the publisher's buffers, valid only during Encode, so the
// encoder copies what it holds into buffers it reuses: steady state
// allocates nothing.
type liveEncoder struct {
	ws bool

	videoSeq, audioSeq []byte // the sequence headers the tracks were made from
	video, audio       *Track
	frag               *Fragmenter
	init               []byte // the current init segment (framed, for WebSocket)

	vbuf    [2][]byte // the pending video frame and the one before it, alternating
	vi      int
	abuf    []byte // audio frames held for the next fragment
	held    int    // audio frames in abuf
	pending bool   // a video frame waits for its successor
	pendKey bool
	pendTS  uint32

	body, out []byte // scratch: the fragment, and the fragment framed
}

// Seed implements fanout.Seeder: the tracks of an output created
// mid-stream, from the headers its frames will not carry.
func (e *liveEncoder) Seed(h *fanout.Headers) {
	e.setVideo(nil, h.VideoSeq)
	e.setAudio(nil, h.AudioSeq)
}

// Encode implements fanout.Encoder.
func (e *liveEncoder) Encode(log fanout.Appender, f *fanout.Frame) {
	switch f.Type {
	case rtmp.TypeVideo:
		if rtmp.IsVideoSequenceHeader(f.Payload) {
			e.setVideo(log, f.Payload)
			return
		}
		e.addVideo(log, f)
	case rtmp.TypeAudio:
		if rtmp.IsAudioSequenceHeader(f.Payload) {
			e.setAudio(log, f.Payload)
			return
		}
		e.addAudio(log, f)
	}
}

func (e *liveEncoder) addVideo(log fanout.Appender, f *fanout.Frame) {
	fr, ok := VideoFrame(f.Payload)
	if !ok || e.video == nil {
		return
	}
	e.vbuf[e.vi] = append(e.vbuf[e.vi][:0], fr.Data...)
	fr.Data = e.vbuf[e.vi]
	e.vi ^= 1
	wasPending, key, ts := e.pending, e.pendKey, e.pendTS
	e.frag.AddVideo(int64(f.Timestamp), fr)
	e.pending, e.pendKey, e.pendTS = true, fr.Key, f.Timestamp
	if wasPending {
		e.cut(log, key, ts, f.Timestamp)
	}
}

func (e *liveEncoder) addAudio(log fanout.Appender, f *fanout.Frame) {
	fr, ok := AudioFrame(f.Payload)
	if !ok || e.audio == nil {
		return
	}
	// Appending may move abuf; samples held already keep the old array.
	start := len(e.abuf)
	e.abuf = append(e.abuf, fr.Data...)
	fr.Data = e.abuf[start:len(e.abuf):len(e.abuf)]
	e.frag.AddAudio(int64(f.Timestamp), fr)
	e.held++
	if e.video == nil {
		// Without a video track (none announced, or one fMP4 cannot
		// carry) a player may start at any audio frame.
		e.cut(log, true, f.Timestamp, f.Timestamp)
	} else if e.held >= maxHeldAudio {
		e.cut(log, false, f.Timestamp, f.Timestamp)
	}
}

// cut appends a fragment of every complete sample to the log, stamped ts
// (its first sample's time); now is the stream time just ingested, the
// live edge its prft names.
func (e *liveEncoder) cut(log fanout.Appender, start bool, ts, now uint32) {
	if log == nil || !e.frag.Ready() {
		return
	}
	e.body = appendPRFT(e.body[:0], e.frag, now)
	e.body = e.frag.AppendFragment(e.body)
	e.abuf, e.held = e.abuf[:0], 0
	log.Append(e.framed(e.body), start, ts)
}

// framed is b as a record: itself, or one WebSocket binary frame.
func (e *liveEncoder) framed(b []byte) []byte {
	if !e.ws {
		return b
	}
	e.out = websocket.AppendFrameHeader(e.out[:0], websocket.OpBinary, len(b))
	e.out = append(e.out, b...)
	return e.out
}

func (e *liveEncoder) setVideo(log fanout.Appender, seq []byte) {
	if seq == nil || bytes.Equal(seq, e.videoSeq) {
		return
	}
	t, err := NewVideoTrack(liveVideoID, seq)
	if err != nil {
		t = nil // a codec fMP4 cannot carry: its frames are left out
	}
	e.videoSeq = append(e.videoSeq[:0], seq...)
	e.changeTracks(log, t, e.audio)
}

func (e *liveEncoder) setAudio(log fanout.Appender, seq []byte) {
	if seq == nil || bytes.Equal(seq, e.audioSeq) {
		return
	}
	t, err := NewAudioTrack(liveAudioID, seq)
	if err != nil {
		t = nil
	}
	e.audioSeq = append(e.audioSeq[:0], seq...)
	e.changeTracks(log, e.video, t)
}

// changeTracks ends the fragments of the old tracks and starts a new init
// segment. It goes into the log too (never a start), so that players
// already past their start decode what follows; players that start later
// get it as their join prefix.
func (e *liveEncoder) changeTracks(log fanout.Appender, video, audio *Track) {
	if e.frag != nil {
		e.frag.Flush()
		e.cut(log, e.pendKey, e.pendTS, e.pendTS)
	}
	e.pending = false
	if video.Same(e.video) && audio.Same(e.audio) && e.frag != nil {
		return
	}
	e.video, e.audio = video, audio
	seq := uint32(0)
	if e.frag != nil {
		seq = e.frag.seq // fragment numbers go on increasing
	}
	e.frag = NewFragmenter(video, audio)
	e.frag.seq = seq
	e.init = nil
	if tracks := e.frag.Tracks(); len(tracks) > 0 {
		e.init = append([]byte(nil), e.framed(InitSegment(tracks...))...)
		if log != nil {
			log.Append(e.init, false, e.pendTS)
		}
	}
}

// AppendJoin implements fanout.Encoder: the init segment, to a first
// joiner and to a resuming one whose publisher came back with other
// sequence headers; nothing when only the metadata changed.
func (e *liveEncoder) AppendJoin(dst []byte, h *fanout.Headers, _ uint32, first bool) []byte {
	if first || h.VideoSeq != nil || h.AudioSeq != nil {
		return append(dst, e.init...)
	}
	return dst
}

// ntpEpochOffset is the seconds from the NTP epoch (1900) to Unix's.
const ntpEpochOffset = 2208988800

// appendPRFT writes a ProducerReferenceTimeBox (ISO/IEC 14496-12, 8.16.5)
// before a fragment: the server's wall clock when the fragment was cut, and
// the stream time ingested at that moment (ms, in the first track's
// timescale) — the live edge. A player that compares it with the frame on
// screen knows how far behind live it plays; players that do not read it
// skip it.
func appendPRFT(dst []byte, f *Fragmenter, ms uint32) []byte {
	tracks := f.Tracks()
	if len(tracks) == 0 {
		return dst
	}
	t := tracks[0]
	now := time.Now()
	sec := uint64(now.Unix() + ntpEpochOffset)
	frac := uint64(now.Nanosecond()) << 32 / 1e9
	w := &boxWriter{b: dst}
	b := w.full("prft", 1, 2) // flags 2: the time the fragment was finalized
	w.u32(t.ID)
	w.u64(sec<<32 | frac)
	w.u64(uint64(t.Ticks(int64(ms))))
	w.end(b)
	return w.b
}
