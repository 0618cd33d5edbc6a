package fmp4

import "errors"

var errShort = errors.New("fmp4: bitstream too short")

// bitReader reads a big-endian bitstream (an H.264 SPS after emulation
// prevention bytes are removed). Reads past the end return errShort.
type bitReader struct {
	b   []byte
	pos int // in bits
	err error
}

func (r *bitReader) bit() uint32 {
	if r.pos >= len(r.b)*8 {
		r.err = errShort
		return 0
	}
	v := r.b[r.pos/8] >> (7 - r.pos%8) & 1
	r.pos++
	return uint32(v)
}

func (r *bitReader) bits(n int) uint32 {
	var v uint32
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

// ue reads an unsigned Exp-Golomb code; more than 31 leading zeros is
// not a value any field here can hold.
func (r *bitReader) ue() uint32 {
	zeros := 0
	for r.bit() == 0 {
		if r.err != nil {
			return 0
		}
		zeros++
		if zeros > 31 {
			r.err = errors.New("fmp4: exp-golomb code too long")
			return 0
		}
	}
	return 1<<zeros - 1 + r.bits(zeros)
}

// se reads a signed Exp-Golomb code.
func (r *bitReader) se() int32 {
	v := r.ue()
	if v&1 == 1 {
		return int32((v + 1) / 2)
	}
	return -int32(v / 2)
}

// unescapeRBSP removes the emulation prevention bytes (00 00 03) of a NAL
// unit's payload.
func unescapeRBSP(p []byte) []byte {
	out := make([]byte, 0, len(p))
	zeros := 0
	for _, c := range p {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}
