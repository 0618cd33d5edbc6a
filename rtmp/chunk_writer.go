package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Bounds of what a chunk header can carry.
const (
	maxCSID          = 65599    // 64 + 0xFFFF, the three-byte basic header
	maxMessageLength = 0xFFFFFF // the 24-bit length field
	maxChunkSize     = 0x7FFFFFFF
)

// writeFlushThreshold is how much a ChunkWriter buffers before it writes on
// its own, so a caller that forgets to Flush cannot grow it without bound.
const writeFlushThreshold = 64 << 10

// AppendMessage appends m split into chunks of chunkSize to dst: a type-0
// (full) header on the first chunk, type-3 headers on the rest, the extended
// timestamp repeated on every type-3 continuation when the timestamp is >=
// MaxTimestamp24. The result is self-contained: a reader can start at its
// first byte with no prior state for that chunk stream — the fan-out's wire
// log relies on that.
//
// A chunkSize of 0 means DefaultChunkSize. m.CSID must be in 2..65599 and the
// payload shorter than 16 MiB (what any ChunkReader returns satisfies both);
// anything else is a programming error and panics, since no byte sequence
// could carry it. It allocates only to grow dst.
func AppendMessage(dst []byte, m *Message, chunkSize uint32) []byte {
	if err := checkEncodable(m); err != nil {
		panic(err)
	}
	cs := effectiveChunkSize(chunkSize)
	dst = slices.Grow(dst, ChunkedLen(m, chunkSize))
	ext := m.Timestamp >= MaxTimestamp24
	field := min(m.Timestamp, MaxTimestamp24)
	n := len(m.Payload)
	sid := m.StreamID
	dst = appendBasicHeader(dst, 0, m.CSID)
	dst = append(dst,
		byte(field>>16), byte(field>>8), byte(field),
		byte(n>>16), byte(n>>8), byte(n),
		m.Type,
		byte(sid), byte(sid>>8), byte(sid>>16), byte(sid>>24))
	if ext {
		dst = binary.BigEndian.AppendUint32(dst, m.Timestamp)
	}
	p := m.Payload
	k := min(len(p), cs)
	dst = append(dst, p[:k]...)
	for p = p[k:]; len(p) > 0; p = p[k:] {
		dst = appendBasicHeader(dst, 3, m.CSID)
		if ext {
			dst = binary.BigEndian.AppendUint32(dst, m.Timestamp)
		}
		k = min(len(p), cs)
		dst = append(dst, p[:k]...)
	}
	return dst
}

// ChunkedLen returns len(AppendMessage(nil, m, chunkSize)) without building it.
func ChunkedLen(m *Message, chunkSize uint32) int {
	cs := effectiveChunkSize(chunkSize)
	bh := basicHeaderLen(m.CSID)
	ext := 0
	if m.Timestamp >= MaxTimestamp24 {
		ext = 4
	}
	n := len(m.Payload)
	chunks := max(1, (n+cs-1)/cs)
	return bh + 11 + ext + n + (chunks-1)*(bh+ext)
}

// checkEncodable reports a message that no chunk header can carry.
func checkEncodable(m *Message) error {
	if m.CSID < 2 || m.CSID > maxCSID {
		return fmt.Errorf("rtmp: chunk stream id %d outside 2..%d", m.CSID, maxCSID)
	}
	if len(m.Payload) > maxMessageLength {
		return fmt.Errorf("rtmp: message of %d bytes exceeds the 24-bit length field", len(m.Payload))
	}
	return nil
}

// effectiveChunkSize maps 0 to the default and clamps to what Set Chunk Size
// can announce, which also keeps the value a positive int on 32-bit hosts.
func effectiveChunkSize(chunkSize uint32) int {
	if chunkSize == 0 {
		return DefaultChunkSize
	}
	return int(min(chunkSize, maxChunkSize))
}

func basicHeaderLen(csid uint32) int {
	switch {
	case csid < 64:
		return 1
	case csid < 320:
		return 2
	}
	return 3
}

// appendBasicHeader encodes format and csid in the shortest basic header.
func appendBasicHeader(dst []byte, format byte, csid uint32) []byte {
	switch {
	case csid < 64:
		return append(dst, format<<6|byte(csid))
	case csid < 320:
		return append(dst, format<<6, byte(csid-64))
	}
	c := csid - 64
	return append(dst, format<<6|1, byte(c), byte(c>>8))
}

// ChunkWriter writes a connection's own messages (control, commands; media
// in tests and the client) with full headers, buffered. It is not safe for
// concurrent use. A write error is sticky: every later call returns it.
type ChunkWriter struct {
	w         io.Writer
	buf       []byte
	chunkSize uint32
	ctl       []byte // control message payloads, reused
	err       error
}

// NewChunkWriter returns a writer at DefaultChunkSize.
func NewChunkWriter(w io.Writer) *ChunkWriter {
	return &ChunkWriter{
		w:         w,
		buf:       make([]byte, 0, 4096),
		chunkSize: DefaultChunkSize,
		ctl:       make([]byte, 0, 16),
	}
}

// WriteMessage buffers m; call Flush to send it. The buffer is written on its
// own once it passes 64 KiB.
func (cw *ChunkWriter) WriteMessage(m *Message) error {
	if cw.err != nil {
		return cw.err
	}
	if err := checkEncodable(m); err != nil {
		return err
	}
	cw.buf = AppendMessage(cw.buf, m, cw.chunkSize)
	if len(cw.buf) >= writeFlushThreshold {
		return cw.Flush()
	}
	return nil
}

// Flush writes what is buffered.
func (cw *ChunkWriter) Flush() error {
	if cw.err != nil {
		return cw.err
	}
	if len(cw.buf) == 0 {
		return nil
	}
	n, err := cw.w.Write(cw.buf)
	if err == nil && n < len(cw.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		cw.err = err
		return err
	}
	cw.buf = cw.buf[:0]
	return nil
}

// release drops the writer's buffers, which a later write grows again; the
// chunk size and the output stay, so what it writes after still reads
// right on the peer's side.
func (cw *ChunkWriter) release() { cw.buf, cw.ctl = nil, nil }

// ChunkSize is the chunk size this writer currently uses.
func (cw *ChunkWriter) ChunkSize() uint32 { return cw.chunkSize }

// SetOutput sends what follows to w instead (whoever took the connection
// over writes through its own descriptor).
func (cw *ChunkWriter) SetOutput(w io.Writer) { cw.w = w }

// errChunkSize rejects a chunk size that Set Chunk Size cannot announce.
var errChunkSize = errors.New("rtmp: chunk size must be in 1..0x7FFFFFFF")

// SetChunkSize writes a Set Chunk Size message (csid 2, stream 0), then
// uses n for what follows.
func (cw *ChunkWriter) SetChunkSize(n uint32) error {
	if n == 0 || n > maxChunkSize {
		return errChunkSize
	}
	if err := cw.writeControl(TypeSetChunkSize, binary.BigEndian.AppendUint32(cw.ctl[:0], n)); err != nil {
		return err
	}
	cw.chunkSize = n
	return nil
}

// WriteWindowAckSize tells the peer how many bytes it may send between our
// acknowledgements.
func (cw *ChunkWriter) WriteWindowAckSize(n uint32) error {
	return cw.writeControl(TypeWindowAckSize, binary.BigEndian.AppendUint32(cw.ctl[:0], n))
}

// WriteSetPeerBandwidth limits the peer's output window; limitType is one of
// PeerBandwidthHard, PeerBandwidthSoft, PeerBandwidthDynamic.
func (cw *ChunkWriter) WriteSetPeerBandwidth(n uint32, limitType uint8) error {
	p := binary.BigEndian.AppendUint32(cw.ctl[:0], n)
	return cw.writeControl(TypeSetPeerBandwidth, append(p, limitType))
}

// WriteAck acknowledges sequence bytes received so far.
func (cw *ChunkWriter) WriteAck(sequence uint32) error {
	return cw.writeControl(TypeAck, binary.BigEndian.AppendUint32(cw.ctl[:0], sequence))
}

// WriteUserControl writes a User Control message: the event id followed by
// its 32-bit arguments, e.g. (UserStreamBegin, streamID) or
// (UserPingResponse, timestamp) or (UserSetBufferLength, streamID, ms).
func (cw *ChunkWriter) WriteUserControl(event uint16, data ...uint32) error {
	p := binary.BigEndian.AppendUint16(cw.ctl[:0], event)
	for _, d := range data {
		p = binary.BigEndian.AppendUint32(p, d)
	}
	cw.ctl = p[:0] // keep a grown buffer
	return cw.writeControl(TypeUserControl, p)
}

// writeControl buffers a protocol control message: chunk stream 2, message
// stream 0, timestamp 0, as the specification requires.
func (cw *ChunkWriter) writeControl(typeID uint8, payload []byte) error {
	m := Message{Type: typeID, CSID: CSIDControl, Payload: payload}
	return cw.WriteMessage(&m)
}
