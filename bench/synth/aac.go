package synth

// AAC-LC, 44.1 kHz, stereo: the AudioSpecificConfig and raw frames built
// from the syntax of ISO/IEC 14496-3. Each frame is one channel pair element
// with max_sfb 0 (every spectral coefficient zero: silence) followed by fill
// elements that bring it to the configured bitrate, then ID_END.

const (
	aacSampleRate   = 44100
	aacFrameSamples = 1024
	aacFlvHeader    = 0xaf // sound format 10 (AAC), 44 kHz, 16-bit, stereo
	aacIDCPE        = 1
	aacIDFIL        = 6
	aacIDEND        = 7
	aacMaxFill      = 15 + 255 - 1 // the largest fill element's payload
)

// audioSpecificConfig: object type 2 (LC), frequency index 4 (44100 Hz),
// channel configuration 2, then frameLength, dependsOnCoreCoder and
// extensionFlag all zero.
var audioSpecificConfig = []byte{0x12, 0x10}

// aacFrame builds a silent raw_data_block of about size bytes (at least the
// 6 bytes of a bare frame).
func aacFrame(size int) []byte {
	var w bitWriter
	w.u(3, aacIDCPE)
	w.u(4, 0) // element_instance_tag
	w.u(1, 1) // common_window
	// ics_info
	w.u(1, 0) // ics_reserved_bit
	w.u(2, 0) // window_sequence: ONLY_LONG_SEQUENCE
	w.u(1, 0) // window_shape
	w.u(6, 0) // max_sfb
	w.u(1, 0) // predictor_data_present
	w.u(2, 0) // ms_mask_present
	for range 2 {
		w.u(8, 100) // global_gain
		w.u(1, 0)   // pulse_data_present
		w.u(1, 0)   // tns_data_present
		w.u(1, 0)   // gain_control_data_present
	}
	// 41 bits so far, 3 for ID_END and the padding: 6 bytes bare.
	fill := size - 6
	for fill > 2 {
		// A fill element costs 7 header bits (15 with esc_count) plus
		// cnt payload bytes; round the header into the count.
		cnt := min(fill-2, aacMaxFill)
		w.u(3, aacIDFIL)
		if cnt >= 15 {
			w.u(4, 15)
			w.u(8, uint64(cnt-15+1))
		} else {
			w.u(4, uint64(cnt))
		}
		if cnt > 0 {
			w.u(4, 0) // extension_type: EXT_FILL
			w.u(4, 0) // fill_nibble
			for range cnt - 1 {
				w.u(8, 0xa5) // fill_byte: 10100101
			}
		}
		fill -= cnt + 2
	}
	w.u(3, aacIDEND)
	w.align()
	return w.bytes()
}
