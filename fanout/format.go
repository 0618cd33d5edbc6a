package fanout

// Format is one output format that players can be delivered in: RTMP
// chunks, FLV tags (HTTP-FLV), WebSocket-framed FLV, fMP4 fragments, …. The
// fan-out core knows formats only through this interface and Encoder.
//
// A stream keeps one wire log per format that has players. Players whose
// formats have the same Name share that log, so Name must include every
// setting that changes the bytes (the RTMP chunk size, for instance).
type Format interface {
	// Name identifies the format and its settings ("rtmp/4096", "flv").
	Name() string
	// NewEncoder returns the encoder of one stream's log in this format.
	NewEncoder() Encoder
}

// Encoder serializes a stream's frames into its format's wire log, once for
// every player of that format. An encoder is used by one goroutine at a
// time (the stream's writer), under the stream's lock.
type Encoder interface {
	// Encode turns one frame into zero or more records appended to log.
	// A format may hold frames back and emit them later (an fMP4 fragment
	// of several frames); a record that a player may start from — one that
	// begins with a keyframe — is appended with start set.
	Encode(log Appender, f *Frame)
	// AppendJoin appends to dst what a player starting at a record flagged
	// start gets first, stamped with that record's time: the stream's
	// headers in this format (RTMP: metadata and sequence headers; FLV: the
	// file header, then the same as tags; fMP4: the init segment). first is
	// false when the player already got a start (a publisher came back):
	// then a file header must not be repeated, and h holds only the
	// headers that changed. Metadata is stamped 0 whatever ts is.
	AppendJoin(dst []byte, h *Headers, ts uint32, first bool) []byte
}

// Appender is the write end of a wire log, as an Encoder sees it.
type Appender interface {
	// Append adds one record. start marks a place a player may begin
	// (with the join prefix); ts is the record's stream time in ms.
	Append(record []byte, start bool, ts uint32)
}

// Frame is one published message after ingest: its timestamp is already
// corrected to the stream's running timeline.
type Frame struct {
	// Type is the RTMP message type, which FLV tags share: rtmp.TypeAudio,
	// rtmp.TypeVideo or rtmp.TypeDataAMF0.
	Type uint8
	// Timestamp is the stream time in milliseconds.
	Timestamp uint32
	// Payload is the FLV tag body; for data, the onMetaData body without
	// @setDataFrame.
	Payload []byte
	// Key marks a frame a player may start at: a video keyframe, or any
	// audio frame of an audio-only stream.
	Key bool
}

// Headers are what a stream keeps aside for joining players. Each is nil
// until the publisher sent it.
type Headers struct {
	Meta     []byte // onMetaData body, as in a Frame
	VideoSeq []byte // video sequence header (FLV tag body)
	AudioSeq []byte // audio sequence header (FLV tag body)
}

// Seeder is an Encoder that must know the stream's sequence headers before
// the first frame it encodes (an fMP4 encoder makes its tracks, and their
// timescales, from them). An output created mid-stream is seeded from the
// GOP cache, which holds no headers: its encoder gets them through Seed
// first, as one that existed all along saw them in its frames.
type Seeder interface {
	Seed(h *Headers)
}
