// Package rtmp implements the RTMP protocol and nothing else: the handshake,
// the chunk stream reader and writer, AMF0/AMF3, command messages, the facts
// about FLV media tags that a live server needs without decoding them, and the
// server- and client-side session state machines.
//
// It knows nothing of fan-out, transports or metrics; callers plug in through
// the Handler interface of Server.
package rtmp

import "fmt"

// Message type ids (RTMP specification, section 5.4 and 7.1).
const (
	TypeSetChunkSize     uint8 = 1
	TypeAbort            uint8 = 2
	TypeAck              uint8 = 3
	TypeUserControl      uint8 = 4
	TypeWindowAckSize    uint8 = 5
	TypeSetPeerBandwidth uint8 = 6
	TypeAudio            uint8 = 8
	TypeVideo            uint8 = 9
	TypeDataAMF3         uint8 = 15
	TypeSharedObjectAMF3 uint8 = 16
	TypeCommandAMF3      uint8 = 17
	TypeDataAMF0         uint8 = 18
	TypeSharedObjectAMF0 uint8 = 19
	TypeCommandAMF0      uint8 = 20
	TypeAggregate        uint8 = 22
)

// Chunk stream ids the server writes on. Control messages must use 2; the
// others are conventional (they match what FMS, SRS and ffmpeg use) so that
// captures read naturally.
const (
	CSIDControl uint32 = 2
	CSIDCommand uint32 = 3
	CSIDAudio   uint32 = 4
	CSIDData    uint32 = 5
	CSIDVideo   uint32 = 6
)

// DefaultChunkSize is the chunk size every RTMP peer starts with.
const DefaultChunkSize = 128

// DefaultServerChunkSize is the outbound chunk size a Server announces when
// its ChunkSize is zero: large enough that most audio and many video
// messages are one chunk.
const DefaultServerChunkSize = 4096

// MaxTimestamp24 is the largest timestamp that fits the 3-byte header field;
// at or above it the extended timestamp field is used.
const MaxTimestamp24 = 0xFFFFFF

// Message is one reassembled RTMP message.
type Message struct {
	Type      uint8  // message type id (TypeAudio, TypeVideo, …)
	StreamID  uint32 // message stream id
	Timestamp uint32 // absolute timestamp in milliseconds
	CSID      uint32 // chunk stream id the message arrived (or leaves) on
	Payload   []byte
}

// Limits bounds what a peer may make us hold in memory.
type Limits struct {
	// MaxChunkSize is the largest Set Chunk Size a peer may announce.
	MaxChunkSize uint32
	// MaxMessageSize is the largest message length a peer may announce.
	MaxMessageSize uint32
	// MaxChunkStreams is the number of distinct chunk stream ids a peer may use.
	MaxChunkStreams int
}

// DefaultLimits are generous for any real encoder (a 4K keyframe is a few
// MiB) yet keep a hostile peer from pinning much memory.
var DefaultLimits = Limits{
	MaxChunkSize:    1 << 20,
	MaxMessageSize:  16 << 20,
	MaxChunkStreams: 64,
}

// ProtocolError reports input that breaks the protocol. Reason is a short,
// stable, lower-case token suitable as a metrics label and a log field.
type ProtocolError struct {
	Reason string
	Detail string
}

func (e *ProtocolError) Error() string {
	if e.Detail == "" {
		return "rtmp: " + e.Reason
	}
	return "rtmp: " + e.Reason + ": " + e.Detail
}

// protoErr builds a ProtocolError with a formatted detail.
func protoErr(reason, format string, args ...any) error {
	return &ProtocolError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
