package rtmp

import "testing"

func TestMediaFacts(t *testing.T) {
	tests := []struct {
		name             string
		typ              uint8
		payload          []byte
		key, seq         bool
		videoCodec, aCod string
	}{
		{"avc seq header", TypeVideo, []byte{0x17, 0x00, 0, 0, 0, 1}, false, true, "avc", ""},
		{"avc keyframe", TypeVideo, []byte{0x17, 0x01, 0, 0, 0, 9}, true, false, "avc", ""},
		{"avc inter", TypeVideo, []byte{0x27, 0x01, 0, 0, 0, 9}, false, false, "avc", ""},
		{"avc end of sequence", TypeVideo, []byte{0x17, 0x02, 0, 0, 0}, false, false, "avc", ""},
		{"legacy hevc seq", TypeVideo, []byte{0x1c, 0x00, 0, 0, 0}, false, true, "hevc", ""},
		{"ex hevc seq start", TypeVideo, []byte{0x90, 'h', 'v', 'c', '1', 1}, false, true, "hevc", ""},
		{"ex hevc key coded", TypeVideo, []byte{0x91, 'h', 'v', 'c', '1', 0, 0, 0, 5}, true, false, "hevc", ""},
		{"ex hevc key codedX", TypeVideo, []byte{0x93, 'h', 'v', 'c', '1', 5}, true, false, "hevc", ""},
		{"ex av1 inter", TypeVideo, []byte{0xa1, 'a', 'v', '0', '1', 5}, false, false, "av1", ""},
		{"ex vp9 seq", TypeVideo, []byte{0x90, 'v', 'p', '0', '9', 5}, false, true, "vp9", ""},
		{"ex truncated", TypeVideo, []byte{0x90, 'v'}, false, false, "", ""},
		{"aac seq", TypeAudio, []byte{0xaf, 0x00, 0x12, 0x10}, false, true, "", "aac"},
		{"aac raw", TypeAudio, []byte{0xaf, 0x01, 0x21}, false, false, "", "aac"},
		{"mp3", TypeAudio, []byte{0x2f, 0xff}, false, false, "", "mp3"},
		{"ex opus seq", TypeAudio, []byte{0x90, 'O', 'p', 'u', 's', 1}, false, true, "", "opus"},
		{"empty video", TypeVideo, nil, false, false, "", ""},
		{"one byte", TypeVideo, []byte{0x17}, false, false, "avc", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.typ == TypeVideo {
				if got := IsKeyframe(tt.payload); got != tt.key {
					t.Errorf("IsKeyframe = %v, want %v", got, tt.key)
				}
				if got := VideoCodec(tt.payload); got != tt.videoCodec {
					t.Errorf("VideoCodec = %q, want %q", got, tt.videoCodec)
				}
			} else if got := AudioCodec(tt.payload); got != tt.aCod {
				t.Errorf("AudioCodec = %q, want %q", got, tt.aCod)
			}
			if got := IsSequenceHeader(tt.typ, tt.payload); got != tt.seq {
				t.Errorf("IsSequenceHeader = %v, want %v", got, tt.seq)
			}
		})
	}
}
