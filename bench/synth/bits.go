package synth

// bitWriter writes the big-endian bit fields and Exp-Golomb codes of H.264
// and AAC syntax.
type bitWriter struct {
	buf  []byte
	cur  byte
	nbit uint // bits used in cur
}

// u writes the low n bits of v, most significant first.
func (w *bitWriter) u(n uint, v uint64) {
	for i := int(n) - 1; i >= 0; i-- {
		w.cur = w.cur<<1 | byte(v>>uint(i)&1)
		w.nbit++
		if w.nbit == 8 {
			w.buf = append(w.buf, w.cur)
			w.cur, w.nbit = 0, 0
		}
	}
}

// ue writes an unsigned Exp-Golomb code (H.264 9.1).
func (w *bitWriter) ue(v uint64) {
	x := v + 1
	n := uint(0)
	for t := x; t > 1; t >>= 1 {
		n++
	}
	w.u(n, 0)
	w.u(n+1, x)
}

// se writes a signed Exp-Golomb code (H.264 9.1.1).
func (w *bitWriter) se(v int64) {
	if v > 0 {
		w.ue(uint64(2*v - 1))
	} else {
		w.ue(uint64(-2 * v))
	}
}

// trailing writes rbsp_trailing_bits: a one and zeros to the byte boundary.
func (w *bitWriter) trailing() {
	w.u(1, 1)
	w.align()
}

// align pads with zero bits to the byte boundary.
func (w *bitWriter) align() {
	for w.nbit != 0 {
		w.u(1, 0)
	}
}

// bytes returns what was written; call after align or trailing.
func (w *bitWriter) bytes() []byte { return w.buf }

// escape inserts the emulation prevention bytes of H.264 7.4.1: no 00 00
// followed by 00..03 may appear inside a NAL unit.
func escape(rbsp []byte) []byte {
	out := make([]byte, 0, len(rbsp)+len(rbsp)/64+1)
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}
