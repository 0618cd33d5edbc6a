package fanout

import (
	"strconv"

	"github.com/bbllive/bbllive/rtmp"
)

// RTMPFormat is RTMP chunks as every player of one server receives them: a
// full (type 0) header on the first chunk of every message, the server's
// outbound chunk size and message stream id, so the bytes are the same for
// all. ChunkSize is what the player's session announced (rtmp.Server's
// ChunkSize, the one source of truth), so a log always matches its players.
type RTMPFormat struct{ ChunkSize uint32 }

// Name implements Format.
func (f RTMPFormat) Name() string { return "rtmp/" + strconv.FormatUint(uint64(f.ChunkSize), 10) }

// NewEncoder implements Format.
func (f RTMPFormat) NewEncoder() Encoder { return &rtmpEncoder{chunkSize: f.ChunkSize} }

// rtmpFormatOf is the format a session's player gets.
func rtmpFormatOf(sess *rtmp.Session) RTMPFormat {
	if sess == nil {
		return RTMPFormat{ChunkSize: rtmp.DefaultServerChunkSize}
	}
	return RTMPFormat{ChunkSize: sess.ChunkSize()}
}

type rtmpEncoder struct {
	chunkSize uint32
	scratch   []byte
}

// csidOf puts each media type on its own chunk stream, as players expect.
func csidOf(typ uint8) uint32 {
	switch typ {
	case rtmp.TypeVideo:
		return rtmp.CSIDVideo
	case rtmp.TypeAudio:
		return rtmp.CSIDAudio
	}
	return rtmp.CSIDData
}

func (e *rtmpEncoder) Encode(log Appender, f *Frame) {
	e.encodeMessage(log, &rtmp.Message{Type: f.Type, CSID: csidOf(f.Type), StreamID: rtmp.MediaStreamID,
		Timestamp: f.Timestamp, Payload: f.Payload}, f.Key)
}

func (e *rtmpEncoder) encodeMessage(log Appender, m *rtmp.Message, start bool) {
	e.scratch = rtmp.AppendMessage(e.scratch[:0], m, e.chunkSize)
	log.Append(e.scratch, start, m.Timestamp)
}

// encodeControl implements controlEncoder: RTMP players are told of a
// publisher's loss and return in the stream itself.
func (e *rtmpEncoder) encodeControl(log Appender, m *rtmp.Message) { e.encodeMessage(log, m, false) }

func (e *rtmpEncoder) AppendJoin(dst []byte, h *Headers, ts uint32, _ bool) []byte {
	add := func(typ uint8, p []byte) {
		if p == nil {
			return
		}
		at := ts
		if typ == rtmp.TypeDataAMF0 {
			at = 0 // metadata at time 0: see Stream.ingest
		}
		dst = rtmp.AppendMessage(dst, &rtmp.Message{Type: typ, CSID: csidOf(typ), StreamID: rtmp.MediaStreamID,
			Timestamp: at, Payload: p}, e.chunkSize)
	}
	add(rtmp.TypeDataAMF0, h.Meta)
	add(rtmp.TypeVideo, h.VideoSeq)
	add(rtmp.TypeAudio, h.AudioSeq)
	return dst
}

// controlEncoder is an Encoder whose format carries the RTMP control
// messages the stream sends its players (StreamBegin/EOF, onStatus). Other
// formats have no such messages: their players see the media stop and,
// when a publisher returns, its new headers.
type controlEncoder interface {
	encodeControl(log Appender, m *rtmp.Message)
}
