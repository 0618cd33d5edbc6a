package rtmp

import (
	"bufio"
	"io"
)

// readBufferSize is the reader's internal buffer: large enough that a
// publisher's burst of chunks costs one read system call, small enough that
// thousands of idle connections do not add up.
const readBufferSize = 64 << 10

// ChunkReader reassembles messages from an RTMP chunk stream.
//
// It is not safe for concurrent use. After an error other than one returned
// before the first byte of a chunk (a clean io.EOF, or a read deadline that
// expired while the peer was idle), the stream position is lost and every
// later call returns the same error.
type ChunkReader struct {
	chunkCore
	br  *bufio.Reader
	err error
}

// NewChunkReader reads chunks from r (buffered internally; do not wrap r in
// bufio yourself — a *bufio.Reader of at least 64 KiB is used as is, so bytes
// a handshake left buffered in it are not lost) enforcing lim. A zero field
// of lim takes its value from DefaultLimits.
func NewChunkReader(r io.Reader, lim Limits) *ChunkReader {
	return &ChunkReader{
		chunkCore: newChunkCore(lim),
		br:        bufio.NewReaderSize(r, readBufferSize),
	}
}

// Detach turns the reader into a ChunkParser that continues exactly where
// the reader stopped (chunk size, every chunk stream's last header and
// partial message), for a caller that moves the connection to an event
// loop. It returns the bytes already read from the connection but not yet
// parsed: feed them to the parser first. Call it only between messages; the
// reader must not be used afterwards, and its read buffer is released.
func (cr *ChunkReader) Detach() (*ChunkParser, []byte) {
	var pending []byte
	if n := cr.br.Buffered(); n > 0 {
		b, _ := cr.br.Peek(n)
		pending = append([]byte(nil), b...)
	}
	p := &ChunkParser{chunkCore: cr.chunkCore, err: cr.err}
	cr.chunkCore = chunkCore{}
	cr.br = nil
	cr.err = errDetached
	return p, pending
}

// errDetached is what a detached reader returns.
var errDetached = &ProtocolError{Reason: "detached", Detail: "chunk reader used after Detach"}

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
		m, err := cr.finish(cs, csid)
		if err != nil {
			cr.err = err
			return nil, err
		}
		return m, nil
	}
}

// readChunk reads one chunk. It returns the chunk stream when the chunk
// completed a message, nil otherwise. started reports whether any byte was
// consumed, i.e. whether an error left the stream position undefined.
func (cr *ChunkReader) readChunk() (done *chunkStream, csid uint32, started bool, err error) {
	var h chunkHeader
	if started, err := cr.readHeader(&h); err != nil {
		return nil, 0, started, err
	}
	cs := cr.applyHeader(&h)
	if err := cr.readPayload(cs, cr.chunkPayload(cs)); err != nil {
		return nil, 0, true, err
	}
	if !cs.complete() {
		return nil, h.csid, true, nil
	}
	return cs, h.csid, true, nil
}

// readHeader consumes one chunk header, peeking at the read buffer until it
// holds all of it: the header's length depends on its first bytes and on the
// chunk stream's state.
func (cr *ChunkReader) readHeader(h *chunkHeader) (started bool, err error) {
	if cr.br.Buffered() >= maxChunkHeaderLen {
		// The common case: one decode, and no read can fail.
		b, _ := cr.br.Peek(maxChunkHeaderLen)
		n, err := cr.decodeHeader(b, h)
		cr.consume(n)
		return true, err
	}
	for need := 1; ; {
		b, perr := cr.br.Peek(need)
		n, err := cr.decodeHeader(b, h)
		if err != nil || n <= len(b) {
			cr.consume(n)
			return true, err
		}
		if perr != nil {
			return cr.headerReadError(len(b), perr)
		}
		need = n
	}
}

// headerReadError handles a read error in a chunk header after got bytes of
// it: before the first byte it passes through (a clean io.EOF unless a
// message is partial); after it, the end of input is unexpected.
func (cr *ChunkReader) headerReadError(got int, err error) (started bool, _ error) {
	if got == 0 {
		if err == io.EOF && cr.partial() {
			err = io.ErrUnexpectedEOF
		}
		return false, err
	}
	cr.consume(got)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return true, err
}

// consume drops n bytes that readHeader has peeked at.
func (cr *ChunkReader) consume(n int) {
	_, _ = cr.br.Discard(n)
	cr.nread += uint64(n)
}

// readPayload appends n payload bytes to the chunk stream's message.
func (cr *ChunkReader) readPayload(cs *chunkStream, n int) error {
	for n > 0 {
		r := cs.room(n)
		if err := cr.readFull(r); err != nil {
			cs.buf = cs.buf[:len(cs.buf)-len(r)]
			return err
		}
		n -= len(r)
	}
	return nil
}

// readFull fills p; the end of input is always unexpected here because the
// chunk has started. It is io.ReadFull on the concrete *bufio.Reader, which
// spares an interface call per chunk at small chunk sizes.
func (cr *ChunkReader) readFull(p []byte) error {
	for len(p) > 0 {
		n, err := cr.br.Read(p)
		cr.nread += uint64(n)
		p = p[n:]
		if err != nil && len(p) > 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}
