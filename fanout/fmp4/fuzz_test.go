package fmp4

import (
	"testing"

	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/rtmp"
)

// FuzzSequenceHeaders feeds arbitrary FLV sequence headers to the AVC
// (avcC + SPS) and AAC (AudioSpecificConfig) parsers: an error is fine, a
// panic or a track that cannot be written is not.
func FuzzSequenceHeaders(f *testing.F) {
	for _, m := range synthStream(f, synth.Config{Audio: true, Width: 1920, Height: 1080}, 0) {
		if m.Type == rtmp.TypeVideo || m.Type == rtmp.TypeAudio {
			f.Add(m.Payload)
		}
	}
	f.Add([]byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f})
	f.Add([]byte{0xaf, 0, 0x17, 0x80, 0, 0, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		var tr *Track
		var err error
		if len(p) > 0 && p[0]>>4 == 10 {
			tr, err = NewAudioTrack(2, p)
		} else {
			tr, err = NewVideoTrack(1, p)
		}
		if err != nil {
			return
		}
		if _, err := parseBoxes(InitSegment(tr)); err != nil {
			t.Fatalf("init segment of an accepted header does not parse: %v", err)
		}
		if tr.Kind == Video && (tr.Width <= 0 || tr.Height <= 0 || tr.Width > 16384 || tr.Height > 16384) {
			t.Fatalf("accepted a %dx%d picture", tr.Width, tr.Height)
		}
	})
}
