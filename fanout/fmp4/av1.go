package fmp4

import (
	"errors"
	"fmt"
)

// av1Config is what the init segment needs from an
// AV1CodecConfigurationRecord (AV1 in ISOBMFF, 2.3).
type av1Config struct {
	codec         string
	width, height int
}

// parseAV1C checks an av1C record, derives its codecs value
// ("av01.P.LLT.DD") and reads the maximum frame size from the sequence
// header OBU among its configOBUs.
func parseAV1C(rec []byte) (av1Config, error) {
	var c av1Config
	if len(rec) < 4 {
		return c, errors.New("fmp4: av1C shorter than 4 bytes")
	}
	if rec[0] != 0x81 {
		return c, fmt.Errorf("fmp4: av1C marker/version %#x, want 0x81", rec[0])
	}
	profile, level := rec[1]>>5, rec[1]&0x1f
	tier := "M"
	if rec[2]&0x80 != 0 {
		tier = "H"
	}
	depth := 8
	if rec[2]&0x40 != 0 {
		depth = 10
		if profile == 2 && rec[2]&0x20 != 0 {
			depth = 12
		}
	}
	c.codec = fmt.Sprintf("av01.%d.%02d%s.%02d", profile, level, tier, depth)
	obus := rec[4:]
	for len(obus) > 0 {
		typ, payload, rest, err := nextOBU(obus)
		if err != nil {
			return c, err
		}
		if typ == 1 { // OBU_SEQUENCE_HEADER
			w, h, err := parseAV1SequenceHeader(payload)
			if err != nil {
				return c, err
			}
			c.width, c.height = w, h
			return c, nil
		}
		obus = rest
	}
	return c, errors.New("fmp4: av1C has no sequence header OBU")
}

// nextOBU splits the first OBU (with its size field, as the low-overhead
// format of configOBUs and samples has it) off p.
func nextOBU(p []byte) (typ byte, payload, rest []byte, err error) {
	if len(p) < 1 {
		return 0, nil, nil, errShort
	}
	h := p[0]
	typ = h >> 3 & 0x0f
	n := 1
	if h&0x04 != 0 { // extension
		n++
	}
	if h&0x02 == 0 {
		return typ, p[min(n, len(p)):], nil, nil // no size: the OBU runs to the end
	}
	size, m, err := leb128(p[min(n, len(p)):])
	if err != nil {
		return 0, nil, nil, err
	}
	n += m
	if uint64(len(p)-n) < size {
		return 0, nil, nil, errors.New("fmp4: AV1 OBU truncated")
	}
	return typ, p[n : n+int(size)], p[n+int(size):], nil
}

func leb128(p []byte) (v uint64, n int, err error) {
	for i := 0; i < 8; i++ {
		if i >= len(p) {
			return 0, 0, errShort
		}
		v |= uint64(p[i]&0x7f) << (7 * i)
		if p[i]&0x80 == 0 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errors.New("fmp4: AV1 leb128 too long")
}

// parseAV1SequenceHeader reads max_frame_width/height from a sequence
// header OBU's payload (AV1 specification, 5.5.1).
func parseAV1SequenceHeader(p []byte) (width, height int, err error) {
	r := &bitReader{b: p}
	r.bits(3)         // seq_profile
	r.bit()           // still_picture
	if r.bit() == 1 { // reduced_still_picture_header
		r.bits(5)
	} else {
		decoderModel := false
		var delayLen int
		if r.bit() == 1 { // timing_info_present_flag
			r.bits(32)
			r.bits(32)
			if r.bit() == 1 { // equal_picture_interval: uvlc
				zeros := 0
				for r.bit() == 0 && r.err == nil && zeros < 32 {
					zeros++
				}
				r.bits(zeros)
			}
			if r.bit() == 1 { // decoder_model_info_present_flag
				decoderModel = true
				delayLen = int(r.bits(5)) + 1
				r.bits(32)
				r.bits(10) // buffer_removal_time_length_minus_1, frame_presentation_time_length_minus_1
			}
		}
		initialDelay := r.bit() == 1
		points := int(r.bits(5)) + 1
		for range points {
			r.bits(12) // operating_point_idc
			if r.bits(5) > 7 {
				r.bit() // seq_tier
			}
			if decoderModel && r.bit() == 1 {
				r.bits(2*delayLen + 1)
			}
			if initialDelay && r.bit() == 1 {
				r.bits(4)
			}
		}
	}
	wb, hb := int(r.bits(4))+1, int(r.bits(4))+1
	w, h := int(r.bits(wb))+1, int(r.bits(hb))+1
	if r.err != nil {
		return 0, 0, r.err
	}
	if w > maxPicture || h > maxPicture {
		return 0, 0, fmt.Errorf("fmp4: AV1 frame %dx%d out of range", w, h)
	}
	return w, h, nil
}
