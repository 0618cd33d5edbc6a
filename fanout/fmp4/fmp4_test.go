package fmp4

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/rtmp"
)

// tracksOf builds the tracks of a message list from its sequence headers.
func tracksOf(t *testing.T, msgs []*rtmp.Message) (video, audio *Track) {
	t.Helper()
	for _, m := range msgs {
		var err error
		switch {
		case m.Type == rtmp.TypeVideo && rtmp.IsVideoSequenceHeader(m.Payload):
			video, err = NewVideoTrack(1, m.Payload)
		case m.Type == rtmp.TypeAudio && rtmp.IsAudioSequenceHeader(m.Payload):
			audio, err = NewAudioTrack(2, m.Payload)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return video, audio
}

func TestTracksFromSequenceHeaders(t *testing.T) {
	for _, tc := range []struct{ w, h int }{{640, 360}, {320, 240}, {1920, 1080}, {1280, 720}, {176, 144}} {
		msgs := synthStream(t, synth.Config{Width: tc.w, Height: tc.h, Audio: true}, 0)
		v, a := tracksOf(t, msgs)
		if v == nil || a == nil {
			t.Fatal("no tracks from the synthetic stream's headers")
		}
		if v.Width != tc.w || v.Height != tc.h {
			t.Errorf("SPS of %dx%d read as %dx%d", tc.w, tc.h, v.Width, v.Height)
		}
		if v.Codec[:5] != "avc1." || len(v.Codec) != 11 || v.Timescale != 90000 {
			t.Errorf("video codec %q timescale %d", v.Codec, v.Timescale)
		}
		if a.Codec != "mp4a.40.2" || a.Rate != 44100 || a.Channels != 2 || a.Timescale != 44100 {
			t.Errorf("audio %q %d Hz %d ch", a.Codec, a.Rate, a.Channels)
		}
	}
}

func TestTrackErrors(t *testing.T) {
	cases := []struct {
		name  string
		video bool
		p     []byte
	}{
		{"not a header", true, []byte{0x27, 1, 0, 0, 0, 1, 2}},
		{"hvcC short", true, []byte{0x1c, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7}},
		{"vp9 unsupported", true, []byte{0x90, 0x76, 0x70, 0x30, 0x39, 1, 2, 3}},
		{"avcC short", true, []byte{0x17, 0, 0, 0, 0, 1, 0x64}},
		{"avcC version", true, []byte{0x17, 0, 0, 0, 0, 2, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f}},
		{"avcC no SPS", true, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe0, 0, 0}},
		{"SPS truncated", true, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 40, 0x67, 0x64}},
		{"SPS bits run out", true, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f}},
		{"mp3 unsupported", false, []byte{0x2f, 0, 1, 2}},
		{"ASC short", false, []byte{0xaf, 0, 0x12}},
		{"ASC bad rate", false, []byte{0xaf, 0, 0x17, 0x90}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.video {
				_, err = NewVideoTrack(1, tc.p)
			} else {
				_, err = NewAudioTrack(1, tc.p)
			}
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestInitSegmentStructure(t *testing.T) {
	v, a := tracksOf(t, synthStream(t, synth.Config{Audio: true}, 0))
	bs := mustParse(t, InitSegment(v, a))
	if bs[0].typ != "ftyp" || !bytes.Contains(bs[0].body, []byte("cmfc")) {
		t.Fatalf("first box %q %q, want ftyp with cmfc", bs[0].typ, bs[0].body)
	}
	moov, ok := find(bs, "moov")
	if !ok {
		t.Fatal("no moov")
	}
	var traks []box
	for _, c := range moov.children {
		if c.typ == "trak" {
			traks = append(traks, c)
		}
	}
	if len(traks) != 2 {
		t.Fatalf("%d traks, want 2", len(traks))
	}
	stsd, _ := find(traks[0].children, "mdia", "minf", "stbl", "stsd")
	if !bytes.Contains(stsd.body, []byte("avc1")) || !bytes.Contains(stsd.body, append([]byte("avcC"), v.config...)) {
		t.Error("video stsd lacks avc1/avcC with the publisher's record")
	}
	tkhd, _ := find(traks[0].children, "tkhd")
	if w, h := binary.BigEndian.Uint32(tkhd.body[76:])>>16, binary.BigEndian.Uint32(tkhd.body[80:])>>16; w != 640 || h != 360 {
		t.Errorf("tkhd %dx%d", w, h)
	}
	astsd, _ := find(traks[1].children, "mdia", "minf", "stbl", "stsd")
	if !bytes.Contains(astsd.body, []byte("mp4a")) || !bytes.Contains(astsd.body, a.config) {
		t.Error("audio stsd lacks mp4a/esds with the AudioSpecificConfig")
	}
	for _, path := range [][]string{{"moov", "mvhd"}, {"moov", "mvex", "trex"}} {
		if _, ok := find(bs, path...); !ok {
			t.Errorf("no %v", path)
		}
	}
}

// fragmentAll runs every message through a Fragmenter, cutting a fragment
// before each keyframe, and returns init + fragments and the frame count.
func fragmentAll(t *testing.T, msgs []*rtmp.Message) (file []byte, videoFrames, audioFrames int) {
	t.Helper()
	v, a := tracksOf(t, msgs)
	f := NewFragmenter(v, a)
	file = InitSegment(f.Tracks()...)
	for _, m := range msgs {
		switch m.Type {
		case rtmp.TypeVideo:
			if fr, ok := VideoFrame(m.Payload); ok {
				f.AddVideo(int64(m.Timestamp), fr)
				videoFrames++
				if fr.Key {
					file = f.AppendFragment(file)
				}
			}
		case rtmp.TypeAudio:
			if fr, ok := AudioFrame(m.Payload); ok {
				f.AddAudio(int64(m.Timestamp), fr)
				audioFrames++
			}
		}
	}
	f.Flush()
	return f.AppendFragment(file), videoFrames, audioFrames
}

func TestFragmentStructure(t *testing.T) {
	msgs := synthStream(t, synth.Config{Audio: true, GOP: 10}, 2*time.Second)
	file, nv, na := fragmentAll(t, msgs)
	bs := mustParse(t, file)
	var moofs, samplesV, samplesA int
	for i, b := range bs[2:] {
		want := "moof"
		if i%2 == 1 {
			want = "mdat"
		}
		if b.typ != want {
			t.Fatalf("box %d after init is %q, want %q", i, b.typ, want)
		}
		if b.typ != "moof" {
			continue
		}
		moofs++
		for _, traf := range b.children[1:] {
			tfhd, _ := find(traf.children, "tfhd")
			trun, _ := find(traf.children, "trun")
			n := int(binary.BigEndian.Uint32(trun.body[4:]))
			// data_offset points just past this moof's mdat header for the
			// first run: moof size + 8.
			if binary.BigEndian.Uint32(tfhd.body[4:]) == 1 {
				samplesV += n
				if off := binary.BigEndian.Uint32(trun.body[8:]); int(off) != len(b.body)+8+8 {
					t.Errorf("video data offset %d, want %d", off, len(b.body)+16)
				}
			} else {
				samplesA += n
			}
		}
	}
	if moofs < 4 || samplesV != nv || samplesA != na {
		t.Fatalf("%d fragments with %d/%d video and %d/%d audio samples", moofs, samplesV, nv, samplesA, na)
	}
}
