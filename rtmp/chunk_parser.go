package rtmp

// ChunkParser reassembles messages from chunk-stream bytes pushed to it, for
// event loops that receive into buffers they must hand back at once (io_uring
// provided buffers): it never keeps a reference to the bytes it is fed.
//
// It decodes exactly as ChunkReader does (both share one core). An idle
// parser costs a couple of hundred bytes; chunk stream state is allocated as
// chunk streams appear, message buffers grow only as bytes arrive, and a
// buffer above 64 KiB is let go once its message has been delivered, so a
// connection that once received a large message does not pin it.
//
// It is not safe for concurrent use; fn must not be nil nor call Feed.
type ChunkParser struct {
	chunkCore
	cur     *chunkStream // chunk stream whose chunk payload is arriving; nil between chunks
	curCSID uint32
	left    int // payload bytes of the current chunk still to come
	hdrLen  uint8
	hdr     [maxChunkHeaderLen]byte // an incomplete chunk header kept from the last Feed
	err     error
}

// NewChunkParser makes a parser enforcing lim. A zero field of lim takes its
// value from DefaultLimits, as NewChunkReader does.
func NewChunkParser(lim Limits) *ChunkParser {
	return &ChunkParser{chunkCore: newChunkCore(lim)}
}

// BytesRead is the number of bytes consumed so far, for acknowledgements:
// everything fed, up to a protocol error or the message whose fn failed.
func (p *ChunkParser) BytesRead() uint64 { return p.nread }

// ChunkSize is the peer's current chunk size.
func (p *ChunkParser) ChunkSize() uint32 { return p.chunkSize }

// Buffered reports how many bytes of an incomplete chunk header or of
// incomplete messages the parser holds, for memory accounting.
func (p *ChunkParser) Buffered() int { return int(p.hdrLen) + p.held() }

// Feed consumes all of b, calling fn for every message it completes; m and
// m.Payload are valid only during the call. A partial chunk header or
// message at the end of b is copied and kept until the next Feed, so b may be
// reused as soon as Feed returns.
//
// Set Chunk Size and Abort are applied (they change how the following bytes
// parse, even within the same b) and still passed to fn.
//
// A protocol error is a *ProtocolError with the same Reason as ChunkReader
// reports for the same bytes. An error returned by fn stops parsing and is
// returned; the rest of b is not consumed. After either, the stream
// position is lost and every later Feed returns the same error.
func (p *ChunkParser) Feed(b []byte, fn func(m *Message) error) error {
	if p.err != nil {
		return p.err
	}
	for {
		if p.cur == nil {
			if len(b) == 0 {
				return nil
			}
			n, err := p.header(b)
			if err != nil {
				p.err = err
				return err
			}
			b = b[n:]
			if p.cur == nil {
				return nil // the header is incomplete and kept
			}
		}
		k := min(p.left, len(b))
		p.cur.appendPayload(b[:k])
		b = b[k:]
		p.left -= k
		p.nread += uint64(k)
		if p.left > 0 {
			return nil
		}
		cs := p.cur
		p.cur = nil
		if !cs.complete() {
			continue
		}
		if err := p.deliver(cs, p.curCSID, fn); err != nil {
			p.err = err
			return err
		}
	}
}

// header decodes the chunk header at the start of b, completing the one
// kept from earlier input if any, and makes its chunk current. It returns
// how many bytes of b it consumed. While the header is incomplete p.cur
// stays nil and all of b is kept: no header is longer than p.hdr.
func (p *ChunkParser) header(b []byte) (int, error) {
	var h chunkHeader
	old := int(p.hdrLen)
	src := b
	if old > 0 {
		src = p.hdr[:old+copy(p.hdr[old:], b)]
	}
	n, err := p.decodeHeader(src, &h)
	if err != nil {
		p.nread += uint64(n - old)
		return n - old, err
	}
	if n > len(src) {
		p.hdrLen = uint8(old + copy(p.hdr[old:], b))
		p.nread += uint64(len(b))
		return len(b), nil
	}
	p.hdrLen = 0
	p.nread += uint64(n - old)
	p.cur = p.applyHeader(&h)
	p.curCSID = h.csid
	p.left = p.chunkPayload(p.cur)
	return n - old, nil
}

// appendPayload copies src onto the message of cs.
func (cs *chunkStream) appendPayload(src []byte) {
	for len(src) > 0 {
		src = src[copy(cs.room(len(src)), src):]
	}
}

// deliver passes the complete message of cs to fn, then lets go of the
// message buffer if it is large: keeping it would pin the largest message a
// peer ever sent for the life of the connection.
func (p *ChunkParser) deliver(cs *chunkStream, csid uint32, fn func(m *Message) error) error {
	m, err := p.finish(cs, csid)
	if err != nil {
		return err
	}
	err = fn(m)
	p.msg.Payload = nil
	if cap(cs.buf) > initialMessageBuffer {
		cs.buf = nil
	}
	return err
}
