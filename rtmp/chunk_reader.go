package rtmp

import (
	"bufio"
	"encoding/binary"
	"io"
)

// readBufferSize is the reader's internal buffer: large enough that a
// publisher's burst of chunks costs one read system call, small enough that
// thousands of idle connections do not add up.
const readBufferSize = 64 << 10

// initialMessageBuffer caps what is allocated for a message before its bytes
// arrive: a peer that announces 16 MiB and sends ten bytes costs at most this.
const initialMessageBuffer = 64 << 10

// Message header sizes indexed by chunk format (type 0, 1, 2, 3).
var messageHeaderLen = [4]int{11, 7, 3, 0}

// chunkStream is what one chunk stream id remembers between chunks: the last
// header (types 1, 2 and 3 inherit from it) and the message being reassembled.
type chunkStream struct {
	timestamp uint32 // absolute timestamp of the current or last message
	// tsField is the timestamp field of the last type 0/1/2 header, extended
	// value resolved: absolute for type 0, a delta for types 1 and 2. A type
	// 3 chunk that starts a new message adds it, as ffmpeg's ts_field does.
	tsField  uint32
	extended bool // the last header's field was 0xFFFFFF: type 3 chunks repeat 4 bytes
	length   uint32
	typeID   uint8
	streamID uint32
	active   bool   // a message has started and not completed
	buf      []byte // bytes of the current message received so far; reused
}

// ChunkReader reassembles messages from an RTMP chunk stream.
//
// It is not safe for concurrent use. After an error other than one returned
// before the first byte of a chunk (a clean io.EOF, or a read deadline that
// expired while the peer was idle), the stream position is lost and every
// later call returns the same error.
type ChunkReader struct {
	br        *bufio.Reader
	lim       Limits
	chunkSize uint32
	nread     uint64
	low       [64]*chunkStream // csids 2..63, the one-byte basic header: no map lookup
	high      map[uint32]*chunkStream
	streams   int
	hdr       [11]byte
	msg       Message
	err       error
}

// NewChunkReader reads chunks from r (buffered internally; do not wrap r in
// bufio yourself — a *bufio.Reader of at least 64 KiB is used as is, so bytes
// a handshake left buffered in it are not lost) enforcing lim. A zero field
// of lim takes its value from DefaultLimits.
func NewChunkReader(r io.Reader, lim Limits) *ChunkReader {
	if lim.MaxChunkSize == 0 {
		lim.MaxChunkSize = DefaultLimits.MaxChunkSize
	}
	if lim.MaxMessageSize == 0 {
		lim.MaxMessageSize = DefaultLimits.MaxMessageSize
	}
	if lim.MaxChunkStreams <= 0 {
		lim.MaxChunkStreams = DefaultLimits.MaxChunkStreams
	}
	return &ChunkReader{
		br:        bufio.NewReaderSize(r, readBufferSize),
		lim:       lim,
		chunkSize: DefaultChunkSize,
	}
}

// BytesRead is the total number of bytes consumed from the underlying
// reader, for acknowledgements. It counts chunk bytes parsed, not bytes
// merely sitting in the read buffer.
func (cr *ChunkReader) BytesRead() uint64 { return cr.nread }

// ChunkSize is the peer's current chunk size.
func (cr *ChunkReader) ChunkSize() uint32 { return cr.chunkSize }

// ReadMessage returns the next complete message. Its Payload is only valid
// until the next call (buffers are reused: zero allocations per message in
// steady state).
//
// Set Chunk Size and Abort are applied here (they change how chunks parse)
// and still returned to the caller.
func (cr *ChunkReader) ReadMessage() (*Message, error) {
	if cr.err != nil {
		return nil, cr.err
	}
	for {
		cs, csid, started, err := cr.readChunk()
		if err != nil {
			if started {
				cr.err = err
			}
			return nil, err
		}
		if cs == nil {
			continue
		}
		cr.msg = Message{
			Type:      cs.typeID,
			StreamID:  cs.streamID,
			Timestamp: cs.timestamp,
			CSID:      csid,
			Payload:   cs.buf,
		}
		if err := cr.applyControl(&cr.msg); err != nil {
			cr.err = err
			return nil, err
		}
		return &cr.msg, nil
	}
}

// readChunk reads one chunk. It returns the chunk stream when the chunk
// completed a message, nil otherwise. started reports whether any byte was
// consumed, i.e. whether an error left the stream position undefined.
func (cr *ChunkReader) readChunk() (done *chunkStream, csid uint32, started bool, err error) {
	b, err := cr.br.ReadByte()
	if err != nil {
		if err == io.EOF && cr.partial() {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, false, err
	}
	cr.nread++
	format := b >> 6
	csid, err = cr.readCSID(b & 0x3f)
	if err != nil {
		return nil, 0, true, err
	}
	cs, err := cr.stream(csid, format)
	if err != nil {
		return nil, 0, true, err
	}
	if format == 3 {
		err = cr.readType3(cs)
	} else {
		err = cr.readHeader(cs, format)
	}
	if err != nil {
		return nil, 0, true, err
	}
	n := min(cs.length-uint32(len(cs.buf)), cr.chunkSize)
	if err := cr.readPayload(cs, int(n)); err != nil {
		return nil, 0, true, err
	}
	if uint32(len(cs.buf)) < cs.length {
		return nil, csid, true, nil
	}
	cs.active = false
	return cs, csid, true, nil
}

// readCSID decodes the rest of the basic header: low six bits 0 and 1 say
// one or two more bytes follow.
func (cr *ChunkReader) readCSID(low byte) (uint32, error) {
	switch low {
	case 0:
		if err := cr.readFull(cr.hdr[:1]); err != nil {
			return 0, err
		}
		return 64 + uint32(cr.hdr[0]), nil
	case 1:
		if err := cr.readFull(cr.hdr[:2]); err != nil {
			return 0, err
		}
		return 64 + uint32(cr.hdr[0]) + uint32(cr.hdr[1])<<8, nil
	}
	return uint32(low), nil
}

// stream finds the state of csid, creating it for a type 0 chunk.
func (cr *ChunkReader) stream(csid uint32, format byte) (*chunkStream, error) {
	var cs *chunkStream
	if csid < uint32(len(cr.low)) {
		cs = cr.low[csid]
	} else {
		cs = cr.high[csid]
	}
	if cs != nil {
		return cs, nil
	}
	if format != 0 {
		return nil, protoErr("no_previous_header", "chunk type %d on chunk stream %d, which never had a type 0 header", format, csid)
	}
	if cr.streams >= cr.lim.MaxChunkStreams {
		return nil, protoErr("too_many_chunk_streams", "chunk stream %d would be number %d, limit %d", csid, cr.streams+1, cr.lim.MaxChunkStreams)
	}
	cr.streams++
	cs = &chunkStream{}
	if csid < uint32(len(cr.low)) {
		cr.low[csid] = cs
	} else {
		if cr.high == nil {
			cr.high = make(map[uint32]*chunkStream)
		}
		cr.high[csid] = cs
	}
	return cs, nil
}

// readHeader reads a type 0, 1 or 2 message header, which always starts a
// new message. A partial message on the same chunk stream is dropped, as
// ffmpeg does when the length changes: the peer has moved on.
func (cr *ChunkReader) readHeader(cs *chunkStream, format byte) error {
	h := cr.hdr[:messageHeaderLen[format]]
	if err := cr.readFull(h); err != nil {
		return err
	}
	field := be24(h)
	length, typeID, streamID := cs.length, cs.typeID, cs.streamID
	if format <= 1 {
		length = be24(h[3:])
		typeID = h[6]
	}
	if format == 0 {
		streamID = binary.LittleEndian.Uint32(h[7:])
	}
	extended := field == MaxTimestamp24
	if extended {
		var err error
		if field, err = cr.readUint32(); err != nil {
			return err
		}
	}
	if length > cr.lim.MaxMessageSize {
		return protoErr("message_size", "message of %d bytes, limit %d", length, cr.lim.MaxMessageSize)
	}
	if format == 0 {
		cs.timestamp = field
	} else {
		cs.timestamp += field
	}
	cs.tsField = field
	cs.extended = extended
	cs.length, cs.typeID, cs.streamID = length, typeID, streamID
	cs.start()
	return nil
}

// readType3 handles a chunk with no message header: either the continuation
// of the message in progress (the timestamp stays) or a new message that
// repeats the previous header and its timestamp field.
func (cr *ChunkReader) readType3(cs *chunkStream) error {
	field := cs.tsField
	if cs.extended {
		// The 4 extended bytes repeat on every type 3 chunk (spec 5.3.1.3;
		// ffmpeg and librtmp write them).
		var err error
		if field, err = cr.readUint32(); err != nil {
			return err
		}
	}
	if cs.active {
		return nil
	}
	cs.timestamp += field
	cs.start()
	return nil
}

// start begins a new message on the chunk stream, reusing its buffer.
func (cs *chunkStream) start() {
	cs.active = true
	cs.buf = cs.buf[:0]
}

// readPayload appends n payload bytes to the chunk stream's message,
// growing its buffer only as fast as bytes arrive.
func (cr *ChunkReader) readPayload(cs *chunkStream, n int) error {
	for n > 0 {
		if len(cs.buf) == cap(cs.buf) {
			cs.buf = growMessage(cs.buf, int(cs.length))
		}
		at := len(cs.buf)
		k := min(n, cap(cs.buf)-at)
		cs.buf = cs.buf[:at+k]
		if err := cr.readFull(cs.buf[at:]); err != nil {
			cs.buf = cs.buf[:at]
			return err
		}
		n -= k
	}
	return nil
}

// growMessage doubles buf's capacity (at least initialMessageBuffer, at most
// the message length), so memory held is at most about twice what arrived.
func growMessage(buf []byte, length int) []byte {
	c := max(2*cap(buf), initialMessageBuffer)
	c = min(c, length)
	nb := make([]byte, len(buf), c)
	copy(nb, buf)
	return nb
}

// applyControl applies the messages that change how chunks parse.
func (cr *ChunkReader) applyControl(m *Message) error {
	switch m.Type {
	case TypeSetChunkSize:
		n, err := ParseUint32(m.Payload)
		if err != nil {
			return err
		}
		if n == 0 || n&0x80000000 != 0 || n > cr.lim.MaxChunkSize {
			return protoErr("chunk_size", "peer set chunk size %d, allowed 1..%d", n, cr.lim.MaxChunkSize)
		}
		cr.chunkSize = n
	case TypeAbort:
		csid, err := ParseUint32(m.Payload)
		if err != nil {
			return err
		}
		cr.abort(csid)
	}
	return nil
}

// abort drops the partial message of csid, if any.
func (cr *ChunkReader) abort(csid uint32) {
	var cs *chunkStream
	if csid < uint32(len(cr.low)) {
		cs = cr.low[csid]
	} else {
		cs = cr.high[csid]
	}
	if cs != nil {
		cs.active = false
		cs.buf = cs.buf[:0]
	}
}

// partial reports whether any chunk stream holds part of a message, which
// makes the end of input unexpected.
func (cr *ChunkReader) partial() bool {
	for _, cs := range cr.low {
		if cs != nil && cs.active {
			return true
		}
	}
	for _, cs := range cr.high {
		if cs.active {
			return true
		}
	}
	return false
}

// readFull fills p; the end of input is always unexpected here because the
// chunk has started.
func (cr *ChunkReader) readFull(p []byte) error {
	n, err := io.ReadFull(cr.br, p)
	cr.nread += uint64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// readUint32 reads a big-endian extended timestamp.
func (cr *ChunkReader) readUint32() (uint32, error) {
	if err := cr.readFull(cr.hdr[:4]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(cr.hdr[:4]), nil
}

func be24(b []byte) uint32 {
	return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
}
