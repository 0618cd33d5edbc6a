package fmp4

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bbllive/bbllive/bench/mediatest"
	"github.com/bbllive/bbllive/rtmp"
)

// mp4Sample is one sample read back from a fragmented MP4.
type mp4Sample struct {
	dts  uint64
	cto  int32
	key  bool
	data []byte
}

// readFragmented reads the video sample entry's configuration record and
// every sample of the first track of a fragmented MP4 as ffmpeg writes it
// (-movflags frag_keyframe+empty_moov+default_base_moof).
func readFragmented(t *testing.T, file []byte) (fourCC string, config []byte, timescale uint32, samples []mp4Sample) {
	t.Helper()
	bs := mustParse(t, file)
	mdhd, _ := find(bs, "moov", "trak", "mdia", "mdhd")
	timescale = binary.BigEndian.Uint32(mdhd.body[12:])
	stsd, _ := find(bs, "moov", "trak", "mdia", "minf", "stbl", "stsd")
	entry := stsd.body[8:]
	fourCC = string(entry[4:8])
	kids := mustParse(t, entry[8+78:binary.BigEndian.Uint32(entry)])
	for _, k := range kids {
		if k.typ == "hvcC" || k.typ == "av1C" || k.typ == "avcC" {
			config = k.body
		}
	}
	off := 0
	var dts uint64
	for _, b := range bs {
		start := off
		off += 8 + len(b.body)
		if b.typ != "moof" {
			continue
		}
		traf, _ := find(b.children, "traf")
		tfhd, _ := find(traf.children, "tfhd")
		tfdt, _ := find(traf.children, "tfdt")
		trun, _ := find(traf.children, "trun")
		hf := binary.BigEndian.Uint32(tfhd.body) & 0xffffff
		p := tfhd.body[8:]
		var defDur, defSize, defFlags uint32
		if hf&1 != 0 {
			p = p[8:]
		}
		if hf&2 != 0 {
			p = p[4:]
		}
		if hf&8 != 0 {
			defDur, p = binary.BigEndian.Uint32(p), p[4:]
		}
		if hf&0x10 != 0 {
			defSize, p = binary.BigEndian.Uint32(p), p[4:]
		}
		if hf&0x20 != 0 {
			defFlags = binary.BigEndian.Uint32(p)
		}
		if tfdt.body[0] == 1 {
			dts = binary.BigEndian.Uint64(tfdt.body[4:])
		} else {
			dts = uint64(binary.BigEndian.Uint32(tfdt.body[4:]))
		}
		tf := binary.BigEndian.Uint32(trun.body) & 0xffffff
		n := binary.BigEndian.Uint32(trun.body[4:])
		q := trun.body[8:]
		data := start
		if tf&1 != 0 {
			data += int(int32(binary.BigEndian.Uint32(q)))
			q = q[4:]
		}
		firstFlags, hasFirst := uint32(0), tf&4 != 0
		if hasFirst {
			firstFlags, q = binary.BigEndian.Uint32(q), q[4:]
		}
		for i := range n {
			dur, size, flags, cto := defDur, defSize, defFlags, int32(0)
			if tf&0x100 != 0 {
				dur, q = binary.BigEndian.Uint32(q), q[4:]
			}
			if tf&0x200 != 0 {
				size, q = binary.BigEndian.Uint32(q), q[4:]
			}
			if tf&0x400 != 0 {
				flags, q = binary.BigEndian.Uint32(q), q[4:]
			} else if i == 0 && hasFirst {
				flags = firstFlags
			}
			if tf&0x800 != 0 {
				cto, q = int32(binary.BigEndian.Uint32(q)), q[4:]
			}
			samples = append(samples, mp4Sample{dts: dts, cto: cto, key: flags&0x00010000 == 0, data: file[data : data+int(size)]})
			data += int(size)
			dts += uint64(dur)
		}
	}
	return fourCC, config, timescale, samples
}

// enhancedMessages turns samples into enhanced RTMP video messages: a
// SequenceStart with the record, then CodedFrames.
func enhancedMessages(fourCC string, config []byte, timescale uint32, samples []mp4Sample) []*rtmp.Message {
	msgs := []*rtmp.Message{{Type: rtmp.TypeVideo, Payload: append([]byte{0x80 | 1<<4 /* keyframe, SequenceStart */}, append([]byte(fourCC), config...)...)}}
	for _, s := range samples {
		ft := byte(2)
		if s.key {
			ft = 1
		}
		p := append([]byte{0x80 | ft<<4 | 1}, fourCC...)
		if fourCC == "hvc1" {
			c := int32(int64(s.cto) * 1000 / int64(timescale))
			p = append(p, byte(c>>16), byte(c>>8), byte(c))
		}
		msgs = append(msgs, &rtmp.Message{Type: rtmp.TypeVideo, Timestamp: uint32(s.dts * 1000 / uint64(timescale)),
			Payload: append(p, s.data...)})
	}
	return msgs
}

// TestEnhancedRTMPCodecs: HEVC and AV1 encoded by ffmpeg, carried as
// enhanced RTMP would carry them, come out as fragments ffprobe decodes
// with the right codec, size and frame count.
func TestEnhancedRTMPCodecs(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	cases := []struct {
		codec, fourCC, probe string
		args                 []string
	}{
		{"hevc", "hvc1", "hevc", []string{"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:keyint=10", "-tag:v", "hvc1"}},
		{"av1", "av01", "av1", []string{"-c:v", "libsvtav1", "-preset", "12", "-g", "10"}},
	}
	for _, tc := range cases {
		t.Run(tc.codec, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src.mp4")
			args := append([]string{"-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "1",
				"-pix_fmt", "yuv420p"}, tc.args...)
			args = append(args, "-movflags", "frag_keyframe+empty_moov+default_base_moof", src)
			if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
				t.Skipf("ffmpeg cannot encode %s here: %v: %s", tc.codec, err, out)
			}
			file, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			fourCC, config, ts, samples := readFragmented(t, file)
			if fourCC != tc.fourCC || len(samples) != 25 {
				t.Fatalf("ffmpeg wrote %q with %d samples", fourCC, len(samples))
			}
			msgs := enhancedMessages(fourCC, config, ts, samples)
			if rtmp.VideoCodec(msgs[0].Payload) != tc.codec {
				t.Fatalf("the sequence start reads as %q", rtmp.VideoCodec(msgs[0].Payload))
			}
			out, nv, _ := fragmentAll(t, msgs)
			path := filepath.Join(dir, "out.mp4")
			os.WriteFile(path, out, 0o644)
			b, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries",
				"stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", path).CombinedOutput()
			if err != nil {
				t.Fatalf("ffprobe: %v: %s", err, b)
			}
			v, _ := NewVideoTrack(1, msgs[0].Payload)
			t.Logf("%s: codecs %q, ffprobe %s", tc.codec, v.Codec, strings.TrimSpace(string(b)))
			if want := fmt.Sprintf("%s,320,240,%s", tc.probe, strconv.Itoa(nv)); strings.TrimSpace(string(b)) != want {
				t.Fatalf("ffprobe says %q, want %q", strings.TrimSpace(string(b)), want)
			}
			if v.Width != 320 || v.Height != 240 {
				t.Fatalf("track %dx%d", v.Width, v.Height)
			}
		})
	}
}
