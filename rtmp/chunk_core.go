package rtmp

import "encoding/binary"

// initialMessageBuffer caps what is allocated for a message before its bytes
// arrive: a peer that announces 16 MiB and sends ten bytes costs at most this.
const initialMessageBuffer = 64 << 10

// maxChunkHeaderLen is the longest chunk header: a three-byte basic header,
// a type 0 message header and an extended timestamp.
const maxChunkHeaderLen = 3 + 11 + 4

// Message header sizes indexed by chunk format (type 0, 1, 2, 3).
var messageHeaderLen = [4]int{11, 7, 3, 0}

// chunkStream is what one chunk stream id remembers between chunks: the last
// header (types 1, 2 and 3 inherit from it) and the message being reassembled.
// Fields are ordered to keep it at 48 bytes: players have a few of these
// each.
type chunkStream struct {
	timestamp uint32 // absolute timestamp of the current or last message
	// tsField is the timestamp field of the last type 0/1/2 header, extended
	// value resolved: absolute for type 0, a delta for types 1 and 2. A type
	// 3 chunk that starts a new message adds it, as ffmpeg's ts_field does.
	tsField  uint32
	length   uint32
	streamID uint32
	typeID   uint8
	extended bool   // the last header's field was 0xFFFFFF: type 3 chunks repeat 4 bytes
	active   bool   // a message has started and not completed
	buf      []byte // bytes of the current message received so far; reused
}

// chunkCore is the protocol state that the pull-mode ChunkReader and the
// push-mode ChunkParser share, so that both decode and reassemble with the
// same code and cannot drift apart. How bytes arrive is their business.
type chunkCore struct {
	lim       Limits
	chunkSize uint32
	nread     uint64
	// low holds csids 2..63 (the one-byte basic header) by index, so the
	// common case needs no map lookup; it grows to the highest csid seen,
	// so a player that only ever uses csids 2 and 3 costs four pointers.
	low     []*chunkStream
	high    map[uint32]*chunkStream
	streams int
	msg     Message
}

// newChunkCore starts a chunk stream at the default chunk size, a zero field
// of lim taking its value from DefaultLimits.
func newChunkCore(lim Limits) chunkCore {
	if lim.MaxChunkSize == 0 {
		lim.MaxChunkSize = DefaultLimits.MaxChunkSize
	}
	if lim.MaxMessageSize == 0 {
		lim.MaxMessageSize = DefaultLimits.MaxMessageSize
	}
	if lim.MaxChunkStreams <= 0 {
		lim.MaxChunkStreams = DefaultLimits.MaxChunkStreams
	}
	return chunkCore{lim: lim, chunkSize: DefaultChunkSize}
}

// chunkHeader is a decoded chunk header that has not changed any state yet.
type chunkHeader struct {
	format   byte
	csid     uint32
	cs       *chunkStream // nil: a chunk stream not seen before (type 0 only)
	field    uint32       // timestamp field, extended value resolved
	extended bool
	length   uint32
	typeID   uint8
	streamID uint32
}

// decodeHeader decodes the chunk header at the start of b without changing
// any state. It returns the header's length; a length above len(b) means b
// holds only part of the header and at least that many bytes are needed.
// A protocol error is reported as soon as the bytes in b show it, together
// with the number of bytes read up to it, so that a reader fed everything at
// once and a parser fed byte by byte fail at the same byte.
func (c *chunkCore) decodeHeader(b []byte, h *chunkHeader) (int, error) {
	if len(b) == 0 {
		return 1, nil
	}
	h.format = b[0] >> 6
	n := encodedBasicHeaderLen(b[0])
	if len(b) < n {
		return n, nil
	}
	h.csid = decodeCSID(b[:n])
	h.cs = c.lookup(h.csid)
	if h.cs == nil {
		if err := c.checkNewStream(h); err != nil {
			return n, err
		}
	}
	if h.format == 3 {
		h.field, h.extended = h.cs.tsField, h.cs.extended
	} else {
		end := n + messageHeaderLen[h.format]
		if len(b) < end {
			return end, nil
		}
		h.decodeMessageHeader(b[n:end])
		n = end
	}
	if h.extended {
		// On type 3 chunks the 4 extended bytes repeat (spec 5.3.1.3;
		// ffmpeg and librtmp write them).
		n += 4
		if len(b) < n {
			return n, nil
		}
		h.field = binary.BigEndian.Uint32(b[n-4:])
	}
	if h.format != 3 && h.length > c.lim.MaxMessageSize {
		return n, protoErr("message_size", "message of %d bytes, limit %d", h.length, c.lim.MaxMessageSize)
	}
	return n, nil
}

// encodedBasicHeaderLen is the length of a basic header, 1, 2 or 3: the low
// six bits 0 and 1 of its first byte say one or two more bytes of chunk
// stream id follow.
func encodedBasicHeaderLen(first byte) int {
	switch first & 0x3f {
	case 0:
		return 2
	case 1:
		return 3
	}
	return 1
}

// decodeCSID reads the chunk stream id of a whole basic header.
func decodeCSID(b []byte) uint32 {
	switch len(b) {
	case 2:
		return 64 + uint32(b[1])
	case 3:
		return 64 + uint32(b[1]) + uint32(b[2])<<8
	}
	return uint32(b[0] & 0x3f)
}

// checkNewStream refuses a chunk stream that does not exist yet unless a
// type 0 header may create it within the limits.
func (c *chunkCore) checkNewStream(h *chunkHeader) error {
	if h.format != 0 {
		return protoErr("no_previous_header", "chunk type %d on chunk stream %d, which never had a type 0 header", h.format, h.csid)
	}
	if c.streams >= c.lim.MaxChunkStreams {
		return protoErr("too_many_chunk_streams", "chunk stream %d would be number %d, limit %d", h.csid, c.streams+1, c.lim.MaxChunkStreams)
	}
	return nil
}

// decodeMessageHeader reads a type 0, 1 or 2 message header; what it lacks
// is inherited from the chunk stream's previous header.
func (h *chunkHeader) decodeMessageHeader(m []byte) {
	h.field = be24(m)
	h.extended = h.field == MaxTimestamp24
	if h.cs != nil {
		h.length, h.typeID, h.streamID = h.cs.length, h.cs.typeID, h.cs.streamID
	}
	if h.format <= 1 {
		h.length = be24(m[3:])
		h.typeID = m[6]
	}
	if h.format == 0 {
		h.streamID = binary.LittleEndian.Uint32(m[7:])
	}
}

// applyHeader makes a decoded header current and returns its chunk stream.
// A type 0, 1 or 2 header always starts a new message: a partial message on
// the same chunk stream is dropped, as ffmpeg does when the length changes —
// the peer has moved on. A type 3 header either continues the message in
// progress (the timestamp stays) or starts a new one that repeats the
// previous header and adds its timestamp field.
func (c *chunkCore) applyHeader(h *chunkHeader) *chunkStream {
	cs := h.cs
	if cs == nil {
		cs = c.create(h.csid)
	}
	switch {
	case h.format == 3 && cs.active:
		return cs
	case h.format == 0:
		cs.timestamp = h.field
	default:
		cs.timestamp += h.field
	}
	if h.format != 3 {
		cs.tsField = h.field
		cs.extended = h.extended
		cs.length, cs.typeID, cs.streamID = h.length, h.typeID, h.streamID
	}
	cs.active = true
	cs.buf = cs.buf[:0]
	return cs
}

// lookup finds the state of csid, nil if it never had a type 0 header.
func (c *chunkCore) lookup(csid uint32) *chunkStream {
	if csid < uint32(len(c.low)) {
		return c.low[csid]
	}
	return c.high[csid]
}

// create adds the state of a new chunk stream; checkNewStream has allowed it.
func (c *chunkCore) create(csid uint32) *chunkStream {
	c.streams++
	cs := &chunkStream{}
	switch {
	case csid < uint32(len(c.low)):
		c.low[csid] = cs
	case csid < 64:
		c.low = append(c.low, make([]*chunkStream, int(csid)+1-len(c.low))...)
		c.low[csid] = cs
	default:
		if c.high == nil {
			c.high = make(map[uint32]*chunkStream)
		}
		c.high[csid] = cs
	}
	return cs
}

// chunkPayload is the number of payload bytes the current chunk of cs
// carries: the rest of the message, at most one chunk size.
func (c *chunkCore) chunkPayload(cs *chunkStream) int {
	return int(min(cs.length-uint32(len(cs.buf)), c.chunkSize))
}

// complete reports whether cs holds its whole message.
func (cs *chunkStream) complete() bool { return uint32(len(cs.buf)) >= cs.length }

// room extends cs's message buffer by at most n bytes and returns the new
// stretch to be filled, growing the buffer only as fast as bytes arrive.
func (cs *chunkStream) room(n int) []byte {
	if len(cs.buf) == cap(cs.buf) {
		cs.buf = growMessage(cs.buf, int(cs.length))
	}
	at := len(cs.buf)
	cs.buf = cs.buf[:at+min(n, cap(cs.buf)-at)]
	return cs.buf[at:]
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

// finish closes the complete message of cs and applies it if it changes how
// chunks parse (Set Chunk Size, Abort). The message it returns stays valid
// until the next call.
func (c *chunkCore) finish(cs *chunkStream, csid uint32) (*Message, error) {
	cs.active = false
	c.msg = Message{
		Type:      cs.typeID,
		StreamID:  cs.streamID,
		Timestamp: cs.timestamp,
		CSID:      csid,
		Payload:   cs.buf,
	}
	if err := c.applyControl(&c.msg); err != nil {
		return nil, err
	}
	return &c.msg, nil
}

// applyControl applies the messages that change how chunks parse.
func (c *chunkCore) applyControl(m *Message) error {
	switch m.Type {
	case TypeSetChunkSize:
		n, err := ParseUint32(m.Payload)
		if err != nil {
			return err
		}
		if n == 0 || n&0x80000000 != 0 || n > c.lim.MaxChunkSize {
			return protoErr("chunk_size", "peer set chunk size %d, allowed 1..%d", n, c.lim.MaxChunkSize)
		}
		c.chunkSize = n
	case TypeAbort:
		csid, err := ParseUint32(m.Payload)
		if err != nil {
			return err
		}
		if cs := c.lookup(csid); cs != nil {
			cs.active = false
			cs.buf = cs.buf[:0]
		}
	}
	return nil
}

// partial reports whether any chunk stream holds part of a message, which
// makes the end of input unexpected.
func (c *chunkCore) partial() bool {
	for _, cs := range c.low {
		if cs != nil && cs.active {
			return true
		}
	}
	for _, cs := range c.high {
		if cs.active {
			return true
		}
	}
	return false
}

// held is the number of bytes of partial messages held.
func (c *chunkCore) held() int {
	n := 0
	for _, cs := range c.low {
		if cs != nil && cs.active {
			n += len(cs.buf)
		}
	}
	for _, cs := range c.high {
		if cs.active {
			n += len(cs.buf)
		}
	}
	return n
}

func be24(b []byte) uint32 {
	return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
}
