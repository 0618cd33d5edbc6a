package websocket

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Errors of the frame parser. Each is a *ProtocolError carrying the close
// code to answer with.
var (
	ErrUnmasked = &ProtocolError{Code: CloseProtocolError, Reason: "client frame not masked"}
	ErrReserved = &ProtocolError{Code: CloseProtocolError, Reason: "reserved bits or opcode set"}
	ErrControl  = &ProtocolError{Code: CloseProtocolError, Reason: "control frame fragmented or longer than 125 bytes"}
	ErrTooBig   = &ProtocolError{Code: CloseMessageTooBig, Reason: "frame larger than allowed"}
)

// ProtocolError is a client's violation of RFC 6455, with the close status
// to send before closing.
type ProtocolError struct {
	Code   uint16
	Reason string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("websocket: %s (close %d)", e.Reason, e.Code)
}

// IsProtocolError reports whether err is a client's protocol violation.
func IsProtocolError(err error) (*ProtocolError, bool) {
	var pe *ProtocolError
	ok := errors.As(err, &pe)
	return pe, ok
}

// Parser reads client-to-server frames from a byte stream that arrives in
// arbitrary pieces. Control frames (ping, pong, close) are handed over
// whole and unmasked; data frames are skipped, since a media server's
// clients have nothing to say in them, but still bounded by MaxFrame. A
// Parser holds at most 14 header bytes and 125 control-payload bytes.
type Parser struct {
	// MaxFrame bounds a data frame's payload (0: 64 KiB).
	MaxFrame uint64

	hdr     [14]byte
	nhdr    int
	need    int // header bytes needed, once the first two are known
	op      byte
	mask    [4]byte
	left    uint64 // payload bytes still to come of the current frame
	off     uint64 // payload bytes seen of the current frame
	control []byte // a control frame's payload so far
	inFrame bool   // the header is complete
}

// Frame is a control frame the client sent.
type Frame struct {
	Op      byte
	Payload []byte // unmasked; valid until the next call of Feed's callback
}

// Feed parses b, calling fn for every complete control frame. It returns
// the first error, from the frame format or from fn.
func (p *Parser) Feed(b []byte, fn func(Frame) error) error {
	for len(b) > 0 {
		if !p.inFrame {
			n, err := p.header(b)
			if err != nil {
				return err
			}
			b = b[n:]
			if !p.inFrame {
				return nil
			}
			if p.left == 0 {
				if err := p.finish(fn); err != nil {
					return err
				}
			}
			continue
		}
		n := min(uint64(len(b)), p.left)
		if p.op >= OpClose {
			for i := range n {
				p.control = append(p.control, b[i]^p.mask[(p.off+i)&3])
			}
		}
		p.off += n
		p.left -= n
		b = b[n:]
		if p.left == 0 {
			if err := p.finish(fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// header consumes header bytes from b and reports how many it took.
func (p *Parser) header(b []byte) (int, error) {
	took := 0
	for len(b) > 0 {
		if p.nhdr < 2 || p.nhdr < p.need {
			p.hdr[p.nhdr] = b[0]
			p.nhdr++
			b = b[1:]
			took++
		}
		if p.nhdr == 2 && p.need == 0 {
			if err := p.first(); err != nil {
				return took, err
			}
		}
		if p.need > 0 && p.nhdr == p.need {
			p.complete()
			if p.op < OpClose && p.left > p.maxFrame() {
				return took, ErrTooBig
			}
			return took, nil
		}
	}
	return took, nil
}

// first checks the first two header bytes and sets how long the header is.
func (p *Parser) first() error {
	b0, b1 := p.hdr[0], p.hdr[1]
	if b0&0x70 != 0 {
		return ErrReserved
	}
	op := b0 & 0x0f
	switch op {
	case OpContinuation, OpText, OpBinary:
	case OpClose, OpPing, OpPong:
		if b0&0x80 == 0 || b1&0x7f > 125 {
			return ErrControl
		}
	default:
		return ErrReserved
	}
	if b1&0x80 == 0 {
		return ErrUnmasked
	}
	p.op = op
	switch b1 & 0x7f {
	case 126:
		p.need = 2 + 2 + 4
	case 127:
		p.need = 2 + 8 + 4
	default:
		p.need = 2 + 4
	}
	return nil
}

func (p *Parser) complete() {
	var n uint64
	switch p.need {
	case 8:
		n = uint64(binary.BigEndian.Uint16(p.hdr[2:]))
	case 14:
		n = binary.BigEndian.Uint64(p.hdr[2:])
	default:
		n = uint64(p.hdr[1] & 0x7f)
	}
	copy(p.mask[:], p.hdr[p.need-4:p.need])
	p.left, p.off, p.inFrame = n, 0, true
	p.control = p.control[:0]
}

// finish ends the current frame.
func (p *Parser) finish(fn func(Frame) error) error {
	op := p.op
	p.nhdr, p.need, p.inFrame = 0, 0, false
	if op < OpClose {
		return nil
	}
	return fn(Frame{Op: op, Payload: p.control})
}

// maxFrame is the data-frame bound in effect.
func (p *Parser) maxFrame() uint64 {
	if p.MaxFrame == 0 {
		return 64 << 10
	}
	return p.MaxFrame
}
