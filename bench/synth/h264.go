package synth

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The H.264 stream is built from the syntax up rather than captured from an
// encoder, so any size works and every frame decodes: Constrained Baseline,
// CAVLC, picture order count type 2 (output order is decode order), every
// IDR macroblock I_16x16 with DC prediction and no residual (one byte each,
// a flat grey picture), every P frame one all-skip slice. Frames are padded
// to the bitrate with filler-data NAL units, which decoders discard.

// NAL unit headers (nal_ref_idc in bits 5-6, type in bits 0-4).
const (
	nalSPS    = 0x67
	nalPPS    = 0x68
	nalIDR    = 0x65
	nalP      = 0x41
	nalSEI    = 0x06
	nalFiller = 0x0c
)

const log2MaxFrameNum = 8

// seiUUID marks the user-data SEI carrying the frame counter. No zero bytes,
// so the SEI never needs emulation prevention.
var seiUUID = []byte("bbllive-synth-v1")

// h264 holds the parameter sets and the fixed parts of one picture size.
type h264 struct {
	mbW, mbH int
	sps, pps []byte // NAL units, header byte included
	idr      [2][]byte
	p        [1 << log2MaxFrameNum][]byte
}

func newH264(width, height int) (*h264, error) {
	if width < 16 || height < 16 || width > 4096 || height > 2304 || width%2 != 0 || height%2 != 0 {
		return nil, fmt.Errorf("synth: picture size %dx%d: want even sizes from 16x16 to 4096x2304", width, height)
	}
	h := &h264{mbW: (width + 15) / 16, mbH: (height + 15) / 16}
	h.sps = h.buildSPS(width, height)
	h.pps = buildPPS()
	for i := range h.idr {
		h.idr[i] = h.idrSlice(i)
	}
	for i := range h.p {
		h.p[i] = h.pSlice(i)
	}
	return h, nil
}

func (h *h264) level() byte {
	switch n := h.mbW * h.mbH; {
	case n <= 1620:
		return 30
	case n <= 3600:
		return 31
	case n <= 8192:
		return 40
	}
	return 51
}

func (h *h264) buildSPS(width, height int) []byte {
	var w bitWriter
	w.u(8, 66)   // profile_idc: Baseline
	w.u(8, 0xc0) // constraint_set0 and set1: Constrained Baseline
	w.u(8, uint64(h.level()))
	w.ue(0)                   // seq_parameter_set_id
	w.ue(log2MaxFrameNum - 4) // log2_max_frame_num_minus4
	w.ue(2)                   // pic_order_cnt_type
	w.ue(1)                   // max_num_ref_frames
	w.u(1, 0)                 // gaps_in_frame_num_value_allowed_flag
	w.ue(uint64(h.mbW - 1))
	w.ue(uint64(h.mbH - 1))
	w.u(1, 1) // frame_mbs_only_flag
	w.u(1, 1) // direct_8x8_inference_flag
	cropR, cropB := (h.mbW*16-width)/2, (h.mbH*16-height)/2
	if cropR|cropB != 0 {
		w.u(1, 1)
		w.ue(0)
		w.ue(uint64(cropR))
		w.ue(0)
		w.ue(uint64(cropB))
	} else {
		w.u(1, 0)
	}
	w.u(1, 0) // vui_parameters_present_flag
	w.trailing()
	return nal(nalSPS, w.bytes())
}

func buildPPS() []byte {
	var w bitWriter
	w.ue(0)   // pic_parameter_set_id
	w.ue(0)   // seq_parameter_set_id
	w.u(1, 0) // entropy_coding_mode_flag: CAVLC
	w.u(1, 0) // bottom_field_pic_order_in_frame_present_flag
	w.ue(0)   // num_slice_groups_minus1
	w.ue(0)   // num_ref_idx_l0_default_active_minus1
	w.ue(0)   // num_ref_idx_l1_default_active_minus1
	w.u(1, 0) // weighted_pred_flag
	w.u(2, 0) // weighted_bipred_idc
	w.se(0)   // pic_init_qp_minus26
	w.se(0)   // pic_init_qs_minus26
	w.se(0)   // chroma_qp_index_offset
	w.u(1, 1) // deblocking_filter_control_present_flag
	w.u(1, 0) // constrained_intra_pred_flag
	w.u(1, 0) // redundant_pic_cnt_present_flag
	w.trailing()
	return nal(nalPPS, w.bytes())
}

// idrSlice codes every macroblock as I_16x16_2_0_0 (mb_type 3, DC
// prediction), chroma DC, qp delta 0 and an empty Intra16x16DC block: the
// eight bits 00100 1 1 1.
func (h *h264) idrSlice(idrPicID int) []byte {
	var w bitWriter
	w.ue(0) // first_mb_in_slice
	w.ue(7) // slice_type: I, all slices
	w.ue(0) // pic_parameter_set_id
	w.u(log2MaxFrameNum, 0)
	w.ue(uint64(idrPicID))
	w.u(1, 0) // no_output_of_prior_pics_flag
	w.u(1, 0) // long_term_reference_flag
	w.se(0)   // slice_qp_delta
	w.ue(1)   // disable_deblocking_filter_idc
	for range h.mbW * h.mbH {
		w.u(8, 0x27)
	}
	w.trailing()
	return nal(nalIDR, w.bytes())
}

// pSlice skips every macroblock: the picture repeats its reference.
func (h *h264) pSlice(frameNum int) []byte {
	var w bitWriter
	w.ue(0) // first_mb_in_slice
	w.ue(5) // slice_type: P, all slices
	w.ue(0) // pic_parameter_set_id
	w.u(log2MaxFrameNum, uint64(frameNum))
	w.u(1, 0) // num_ref_idx_active_override_flag
	w.u(1, 0) // ref_pic_list_modification_flag_l0
	w.u(1, 0) // adaptive_ref_pic_marking_mode_flag
	w.se(0)   // slice_qp_delta
	w.ue(1)   // disable_deblocking_filter_idc
	w.ue(uint64(h.mbW * h.mbH))
	w.trailing()
	return nal(nalP, w.bytes())
}

// nal prefixes an RBSP with its header byte, escaped.
func nal(header byte, rbsp []byte) []byte {
	return append([]byte{header}, escape(rbsp)...)
}

// decoderConfig is the AVCDecoderConfigurationRecord of the sequence header.
func (h *h264) decoderConfig() []byte {
	b := []byte{1, h.sps[1], h.sps[2], h.sps[3], 0xff, 0xe1}
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.sps)))
	b = append(b, h.sps...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.pps)))
	return append(b, h.pps...)
}

// appendSEI appends, length-prefixed, a user-data-unregistered SEI carrying
// the frame counter as 16 hex digits.
func appendSEI(dst []byte, counter uint64) []byte {
	payload := fmt.Appendf(append([]byte(nil), seiUUID...), "%016x", counter)
	dst = binary.BigEndian.AppendUint32(dst, uint32(3+len(payload)+1))
	dst = append(dst, nalSEI, 5, byte(len(payload)))
	dst = append(dst, payload...)
	return append(dst, 0x80)
}

// appendNAL appends a length-prefixed NAL unit.
func appendNAL(dst, unit []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(unit)))
	return append(dst, unit...)
}

// fillerOverhead is what a filler NAL costs beyond its 0xff bytes: the
// length prefix, the header byte and the trailing byte.
const fillerOverhead = 6

// appendFiller appends a filler-data NAL unit of total bytes (length prefix
// included); below fillerOverhead nothing is appended.
func appendFiller(dst []byte, total int) []byte {
	n := total - fillerOverhead
	if n < 0 {
		return dst
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(n+2))
	dst = append(dst, nalFiller)
	dst = append(dst, bytes.Repeat([]byte{0xff}, n)...)
	return append(dst, 0x80)
}

// FrameCounter reads the frame counter the synthetic source puts in each
// video frame (an FLV/RTMP video payload, AVC NALU packet). ok is false for
// any other payload, so a checker can fall back to timestamps.
func FrameCounter(payload []byte) (counter uint64, ok bool) {
	if len(payload) < 5 || payload[0]&0x0f != 7 || payload[1] != 1 {
		return 0, false
	}
	p := payload[5:]
	for len(p) >= 4 {
		n := int(binary.BigEndian.Uint32(p))
		p = p[4:]
		if n > len(p) {
			return 0, false
		}
		u := p[:n]
		p = p[n:]
		if len(u) < 3+len(seiUUID)+16 || u[0]&0x1f != 6 || u[1] != 5 || !bytes.Equal(u[3:3+len(seiUUID)], seiUUID) {
			continue
		}
		var v uint64
		for _, c := range u[3+len(seiUUID) : 3+len(seiUUID)+16] {
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | uint64(c-'0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | uint64(c-'a'+10)
			default:
				return 0, false
			}
		}
		return v, true
	}
	return 0, false
}
