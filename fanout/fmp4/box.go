package fmp4

import "encoding/binary"

// boxWriter appends ISO-BMFF boxes to a byte slice. A box is opened with
// start (its size patched by end), so nested boxes need no size arithmetic.
type boxWriter struct{ b []byte }

func (w *boxWriter) start(typ string) int {
	off := len(w.b)
	w.b = append(w.b, 0, 0, 0, 0)
	w.b = append(w.b, typ...)
	return off
}

// full opens a FullBox (version and 24-bit flags after the type).
func (w *boxWriter) full(typ string, version byte, flags uint32) int {
	off := w.start(typ)
	w.u32(uint32(version)<<24 | flags&0xFFFFFF)
	return off
}

func (w *boxWriter) end(off int) {
	binary.BigEndian.PutUint32(w.b[off:], uint32(len(w.b)-off))
}

func (w *boxWriter) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *boxWriter) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *boxWriter) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *boxWriter) raw(p []byte) { w.b = append(w.b, p...) }
func (w *boxWriter) zeros(n int) {
	for range n {
		w.b = append(w.b, 0)
	}
}

// matrix writes the identity transformation matrix of mvhd and tkhd.
func (w *boxWriter) matrix() {
	for _, v := range [9]uint32{0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000} {
		w.u32(v)
	}
}
