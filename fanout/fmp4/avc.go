package fmp4

import (
	"errors"
	"fmt"
)

// avcConfig is what the init segment needs from an
// AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.3.3.1).
type avcConfig struct {
	profile, compat, level byte
	width, height          int
}

// parseAVCConfig checks an AVCDecoderConfigurationRecord and reads the
// picture size from its first SPS.
func parseAVCConfig(rec []byte) (avcConfig, error) {
	var c avcConfig
	if len(rec) < 7 {
		return c, errors.New("fmp4: avcC shorter than 7 bytes")
	}
	if rec[0] != 1 {
		return c, fmt.Errorf("fmp4: avcC version %d, want 1", rec[0])
	}
	c.profile, c.compat, c.level = rec[1], rec[2], rec[3]
	nsps := int(rec[5] & 0x1f)
	if nsps == 0 {
		return c, errors.New("fmp4: avcC has no SPS")
	}
	if len(rec) < 8 {
		return c, errors.New("fmp4: avcC SPS truncated")
	}
	n := int(rec[6])<<8 | int(rec[7])
	if len(rec) < 8+n || n < 4 {
		return c, errors.New("fmp4: avcC SPS truncated")
	}
	w, h, err := parseSPS(rec[8 : 8+n])
	if err != nil {
		return c, err
	}
	c.width, c.height = w, h
	return c, nil
}

// maxPicture is the largest width or height accepted: H.264 level 6.2
// tops out at 8192x4320, and the sample entry's fields are 16-bit.
const maxPicture = 16384

// parseSPS reads the cropped picture size of an H.264 sequence parameter
// set NAL unit (ITU-T H.264, 7.3.2.1.1).
func parseSPS(nal []byte) (width, height int, err error) {
	if len(nal) < 4 || nal[0]&0x1f != 7 {
		return 0, 0, errors.New("fmp4: not an H.264 SPS")
	}
	r := &bitReader{b: unescapeRBSP(nal[1:])}
	profile := r.bits(8)
	r.bits(16) // constraint flags, level
	r.ue()     // seq_parameter_set_id
	chroma := uint32(1)
	if hasChromaInfo(profile) {
		chroma = r.ue()
		if chroma > 3 {
			return 0, 0, fmt.Errorf("fmp4: SPS chroma_format_idc %d", chroma)
		}
		if chroma == 3 {
			r.bit() // separate_colour_plane_flag
		}
		r.ue()            // bit_depth_luma_minus8
		r.ue()            // bit_depth_chroma_minus8
		r.bit()           // qpprime_y_zero_transform_bypass_flag
		if r.bit() == 1 { // seq_scaling_matrix_present_flag
			lists := 8
			if chroma == 3 {
				lists = 12
			}
			for i := range lists {
				if r.bit() == 1 {
					size := 64
					if i < 6 {
						size = 16
					}
					skipScalingList(r, size)
				}
			}
		}
	}
	r.ue()          // log2_max_frame_num_minus4
	switch r.ue() { // pic_order_cnt_type
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.bit()
		r.se()
		r.se()
		n := r.ue()
		if n > 255 {
			return 0, 0, errors.New("fmp4: SPS num_ref_frames_in_pic_order_cnt_cycle > 255")
		}
		for range n {
			r.se()
		}
	}
	r.ue()  // max_num_ref_frames
	r.bit() // gaps_in_frame_num_value_allowed_flag
	wmbs := r.ue() + 1
	hmaps := r.ue() + 1
	frameMbsOnly := r.bit()
	if frameMbsOnly == 0 {
		r.bit() // mb_adaptive_frame_field_flag
	}
	r.bit() // direct_8x8_inference_flag
	var cl, cr, ct, cb uint32
	if r.bit() == 1 {
		cl, cr, ct, cb = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if r.err != nil {
		return 0, 0, r.err
	}
	if wmbs > 1024 || hmaps > 1024 {
		return 0, 0, errors.New("fmp4: SPS picture size out of range")
	}
	subW, subH := uint32(2), uint32(2)
	switch chroma {
	case 0:
		subW, subH = 1, 1
	case 2:
		subH = 1
	case 3:
		subW, subH = 1, 1
	}
	cropX, cropY := subW, subH*(2-frameMbsOnly)
	w := int64(wmbs*16) - int64(cropX)*int64(cl+cr)
	h := int64((2-frameMbsOnly)*hmaps*16) - int64(cropY)*int64(ct+cb)
	if w <= 0 || h <= 0 {
		return 0, 0, errors.New("fmp4: SPS cropping larger than the picture")
	}
	if w > maxPicture || h > maxPicture {
		return 0, 0, fmt.Errorf("fmp4: SPS picture %dx%d larger than %d", w, h, maxPicture)
	}
	return int(w), int(h), nil
}

// hasChromaInfo reports whether an SPS of this profile carries
// chroma_format_idc and the fields after it (the High profiles).
func hasChromaInfo(profile uint32) bool {
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

func skipScalingList(r *bitReader, size int) {
	last, next := int32(8), int32(8)
	for range size {
		if next != 0 {
			next = (last + r.se() + 256) % 256
		}
		if next != 0 {
			last = next
		}
		if r.err != nil {
			return
		}
	}
}

// avcCodecString is the RFC 6381 codecs value ("avc1.64001f").
func avcCodecString(c avcConfig) string {
	return fmt.Sprintf("avc1.%02x%02x%02x", c.profile, c.compat, c.level)
}

// AVCParameterSets returns the NAL length size of an avcC record's samples
// and its SPS and PPS NAL units, which Annex B streams (MPEG-TS) repeat
// before every keyframe.
func AVCParameterSets(rec []byte) (nalLen int, sets [][]byte, err error) {
	if len(rec) < 6 {
		return 0, nil, errors.New("fmp4: avcC shorter than 6 bytes")
	}
	nalLen = int(rec[4]&3) + 1
	p := rec[5:]
	for _, mask := range []byte{0x1f, 0xff} { // SPS count (5 bits), then PPS count
		if len(p) < 1 {
			return 0, nil, errors.New("fmp4: avcC parameter sets truncated")
		}
		n := int(p[0] & mask)
		p = p[1:]
		for range n {
			if len(p) < 2 {
				return 0, nil, errors.New("fmp4: avcC parameter set truncated")
			}
			l := int(p[0])<<8 | int(p[1])
			if len(p) < 2+l {
				return 0, nil, errors.New("fmp4: avcC parameter set truncated")
			}
			sets = append(sets, p[2:2+l])
			p = p[2+l:]
		}
	}
	return nalLen, sets, nil
}
