package fmp4

import (
	"errors"
	"fmt"
	"strings"
)

// hevcConfig is what the init segment needs from an
// HEVCDecoderConfigurationRecord (ISO/IEC 14496-15, 8.3.3.1).
type hevcConfig struct {
	codec         string
	width, height int
}

// parseHVCC checks an hvcC record, derives its RFC 6381 codecs value and
// reads the picture size from its SPS.
func parseHVCC(rec []byte) (hevcConfig, error) {
	var c hevcConfig
	if len(rec) < 23 {
		return c, errors.New("fmp4: hvcC shorter than 23 bytes")
	}
	if rec[0] != 1 {
		return c, fmt.Errorf("fmp4: hvcC version %d, want 1", rec[0])
	}
	c.codec = hevcCodecString(rec)
	p := rec[23:]
	for range int(rec[22]) {
		if len(p) < 3 {
			return c, errors.New("fmp4: hvcC NAL arrays truncated")
		}
		typ, n := p[0]&0x3f, int(p[1])<<8|int(p[2])
		p = p[3:]
		for range n {
			if len(p) < 2 {
				return c, errors.New("fmp4: hvcC NAL unit truncated")
			}
			l := int(p[0])<<8 | int(p[1])
			if len(p) < 2+l {
				return c, errors.New("fmp4: hvcC NAL unit truncated")
			}
			if typ == 33 && c.width == 0 { // SPS
				w, h, err := parseHEVCSPS(p[2 : 2+l])
				if err != nil {
					return c, err
				}
				c.width, c.height = w, h
			}
			p = p[2+l:]
		}
	}
	if c.width == 0 {
		return c, errors.New("fmp4: hvcC has no SPS")
	}
	return c, nil
}

// hevcCodecString is "hvc1.P.C.TL.B…" (ISO/IEC 14496-15, E.3): profile
// space and idc, the compatibility flags bit-reversed in hex, tier and
// level, then the constraint bytes without trailing zeros.
func hevcCodecString(rec []byte) string {
	space := [...]string{"", "A", "B", "C"}[rec[1]>>6]
	tier := "L"
	if rec[1]&0x20 != 0 {
		tier = "H"
	}
	compat := uint32(rec[2])<<24 | uint32(rec[3])<<16 | uint32(rec[4])<<8 | uint32(rec[5])
	var rev uint32
	for i := range 32 {
		rev |= (compat >> i & 1) << (31 - i)
	}
	s := fmt.Sprintf("hvc1.%s%d.%X.%s%d", space, rec[1]&0x1f, rev, tier, rec[12])
	cons := rec[6:12]
	end := len(cons)
	for end > 0 && cons[end-1] == 0 {
		end--
	}
	var b strings.Builder
	for _, x := range cons[:end] {
		fmt.Fprintf(&b, ".%X", x)
	}
	return s + b.String()
}

// parseHEVCSPS reads the conformance-cropped picture size of an HEVC SPS
// NAL unit (ITU-T H.265, 7.3.2.2.1).
func parseHEVCSPS(nal []byte) (width, height int, err error) {
	if len(nal) < 3 || nal[0]>>1&0x3f != 33 {
		return 0, 0, errors.New("fmp4: not an HEVC SPS")
	}
	r := &bitReader{b: unescapeRBSP(nal[2:])}
	r.bits(4) // sps_video_parameter_set_id
	subLayers := int(r.bits(3))
	r.bit()    // temporal_id_nesting
	r.bits(88) // general profile: space, tier, idc, 32 compat flags, 48 constraint bits
	r.bits(8)  // general_level_idc
	prof := make([]bool, subLayers)
	lvl := make([]bool, subLayers)
	for i := range subLayers {
		prof[i], lvl[i] = r.bit() == 1, r.bit() == 1
	}
	if subLayers > 0 {
		r.bits(2 * (8 - subLayers)) // reserved
	}
	for i := range subLayers {
		if prof[i] {
			r.bits(88)
		}
		if lvl[i] {
			r.bits(8)
		}
	}
	r.ue() // sps_seq_parameter_set_id
	chroma := r.ue()
	if chroma > 3 {
		return 0, 0, fmt.Errorf("fmp4: HEVC SPS chroma_format_idc %d", chroma)
	}
	if chroma == 3 {
		r.bit()
	}
	w, h := r.ue(), r.ue()
	if r.bit() == 1 { // conformance_window_flag
		subW, subH := uint32(1), uint32(1)
		if chroma == 1 || chroma == 2 {
			subW = 2
		}
		if chroma == 1 {
			subH = 2
		}
		l, rt, t, b := r.ue(), r.ue(), r.ue(), r.ue()
		w -= subW * (l + rt)
		h -= subH * (t + b)
	}
	if r.err != nil {
		return 0, 0, r.err
	}
	if w == 0 || h == 0 || w > maxPicture || h > maxPicture {
		return 0, 0, fmt.Errorf("fmp4: HEVC SPS picture %dx%d out of range", int32(w), int32(h))
	}
	return int(w), int(h), nil
}
