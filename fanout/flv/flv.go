// Package flv is the FLV output format of the fan-out: each published
// message serialized once as an FLV tag (and, for WebSocket players, as one
// binary WebSocket frame), shared by every HTTP-FLV or WebSocket-FLV player
// of a stream. It plugs into fanout through fanout.Format.
package flv

import (
	"bytes"
	"encoding/binary"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/websocket"
)

// Tag types, equal to the RTMP message types of the same media.
const (
	TagAudio  uint8 = 8
	TagVideo  uint8 = 9
	TagScript uint8 = 18
)

// Header flags of the FLV file header.
const (
	FlagAudio uint8 = 4
	FlagVideo uint8 = 1
)

// HeaderSize is the FLV file header plus the first previous-tag-size field.
const HeaderSize = 9 + 4

// TagOverhead is what a tag adds to its body: the 11-byte tag header and
// the 4-byte previous-tag-size field after it.
const TagOverhead = 11 + 4

// AppendHeader appends the FLV file header with flags (FlagAudio,
// FlagVideo) and the zero previous-tag-size that follows it.
func AppendHeader(dst []byte, flags uint8) []byte {
	return append(dst, 'F', 'L', 'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0)
}

// AppendTag appends one tag — header, body, previous-tag-size — with the
// millisecond timestamp split into its 24 bits and extension byte.
func AppendTag(dst []byte, typ uint8, ts uint32, body []byte) []byte {
	n := len(body)
	dst = append(dst, typ, byte(n>>16), byte(n>>8), byte(n),
		byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24), 0, 0, 0)
	dst = append(dst, body...)
	return binary.BigEndian.AppendUint32(dst, uint32(n+11))
}

// Flags are the header flags for a stream with headers h: a medium is
// announced when its sequence header arrived or the metadata names its
// codec, so players such as mpegts.js, which trust the flags, set up both
// tracks.
func Flags(h *fanout.Headers) uint8 {
	var f uint8
	if h.VideoSeq != nil || bytes.Contains(h.Meta, []byte("videocodecid")) {
		f |= FlagVideo
	}
	if h.AudioSeq != nil || bytes.Contains(h.Meta, []byte("audiocodecid")) {
		f |= FlagAudio
	}
	return f
}

// Format is FLV tags, over plain HTTP or in WebSocket binary frames.
type Format struct {
	// WebSocket wraps each tag (and the join prefix) in one binary
	// WebSocket frame: the framing is serialized once too.
	WebSocket bool
}

// HTTP is HTTP-FLV; WebSocket is WebSocket-FLV.
var (
	HTTP      = Format{}
	WebSocket = Format{WebSocket: true}
)

// Name implements fanout.Format.
func (f Format) Name() string {
	if f.WebSocket {
		return "ws-flv"
	}
	return "flv"
}

// NewEncoder implements fanout.Format.
func (f Format) NewEncoder() fanout.Encoder { return &encoder{ws: f.WebSocket} }

type encoder struct {
	ws      bool
	scratch []byte
}

// Encode implements fanout.Encoder: one tag per frame.
func (e *encoder) Encode(log fanout.Appender, f *fanout.Frame) {
	e.scratch = e.frame(e.scratch[:0], TagOverhead+len(f.Payload))
	e.scratch = AppendTag(e.scratch, f.Type, f.Timestamp, f.Payload)
	log.Append(e.scratch, f.Key, f.Timestamp)
}

// frame starts a WebSocket binary frame of n bytes, for WebSocket players.
func (e *encoder) frame(dst []byte, n int) []byte {
	if !e.ws {
		return dst
	}
	return websocket.AppendFrameHeader(dst, websocket.OpBinary, n)
}

// AppendJoin implements fanout.Encoder: the file header on a first join,
// then metadata at time 0 (libavformat opens a stray subtitle stream for
// metadata stamped later) and sequence headers as tags stamped ts.
func (e *encoder) AppendJoin(dst []byte, h *fanout.Headers, ts uint32, first bool) []byte {
	var body []byte
	if first {
		body = AppendHeader(body, Flags(h))
	}
	if h.Meta != nil {
		body = AppendTag(body, TagScript, 0, h.Meta)
	}
	if h.VideoSeq != nil {
		body = AppendTag(body, TagVideo, ts, h.VideoSeq)
	}
	if h.AudioSeq != nil {
		body = AppendTag(body, TagAudio, ts, h.AudioSeq)
	}
	if len(body) == 0 {
		return dst
	}
	dst = e.frame(dst, len(body))
	return append(dst, body...)
}
