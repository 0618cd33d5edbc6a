package synth

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/flv"
	"github.com/bbllive/bbllive/rtmp"
)

// writeFLV writes d of a source's stream to an FLV file, metadata without
// @setDataFrame as files carry it.
func writeFLV(t *testing.T, s *Source, d time.Duration) (path string, video, audio int) {
	t.Helper()
	var buf bytes.Buffer
	w, err := flv.NewWriter(&buf, flv.FlagAudio|flv.FlagVideo)
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, due := s.Next()
		if due >= d {
			break
		}
		data := m.Payload
		if m.Type == rtmp.TypeDataAMF0 {
			data, _ = rtmp.MetadataPayload(data)
		}
		if err := w.WriteTag(&flv.Tag{Type: m.Type, Timestamp: m.Timestamp, Data: data}); err != nil {
			t.Fatal(err)
		}
		if m.Type == rtmp.TypeVideo && !rtmp.IsVideoSequenceHeader(m.Payload) {
			video++
		}
		if m.Type == rtmp.TypeAudio && !rtmp.IsAudioSequenceHeader(m.Payload) {
			audio++
		}
	}
	path = filepath.Join(t.TempDir(), "synth.flv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, video, audio
}

func TestFFprobeReadsSynthetic(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed (apt-get install ffmpeg)")
	}
	tests := []struct {
		cfg           Config
		width, height int
	}{
		{Config{Audio: true}, 640, 360},
		{Config{Bitrate: 3_000_000, FPS: 30, GOP: 60, Width: 1280, Height: 720, Audio: true}, 1280, 720},
		{Config{Bitrate: 200_000, FPS: 15, GOP: 300, Width: 176, Height: 144}, 176, 144},
	}
	for _, tt := range tests {
		name := strconv.Itoa(tt.width) + "x" + strconv.Itoa(tt.height)
		t.Run(name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			path, nv, na := writeFLV(t, s, 4*time.Second)
			out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", path).Output()
			if err != nil {
				t.Fatalf("ffprobe: %v\n%s", err, out)
			}
			var res struct {
				Streams []struct {
					CodecType  string `json:"codec_type"`
					CodecName  string `json:"codec_name"`
					Width      int    `json:"width"`
					Height     int    `json:"height"`
					Frames     string `json:"nb_read_frames"`
					SampleRate string `json:"sample_rate"`
					Channels   int    `json:"channels"`
				} `json:"streams"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			var sawVideo, sawAudio bool
			for _, st := range res.Streams {
				switch st.CodecType {
				case "video":
					sawVideo = true
					if st.CodecName != "h264" || st.Width != tt.width || st.Height != tt.height || st.Frames != strconv.Itoa(nv) {
						t.Errorf("video: %s %dx%d %s frames, want h264 %dx%d %d frames", st.CodecName, st.Width, st.Height, st.Frames, tt.width, tt.height, nv)
					}
				case "audio":
					sawAudio = true
					if st.CodecName != "aac" || st.SampleRate != "44100" || st.Channels != 2 || st.Frames != strconv.Itoa(na) {
						t.Errorf("audio: %s %s Hz %d ch %s frames, want aac 44100 Hz 2 ch %d frames", st.CodecName, st.SampleRate, st.Channels, st.Frames, na)
					}
				}
			}
			if !sawVideo || sawAudio != tt.cfg.Audio {
				t.Errorf("streams: video %v audio %v, want video and audio=%v", sawVideo, sawAudio, tt.cfg.Audio)
			}
		})
	}
}

// TestFFmpegDecodesCleanly decodes every frame: a bit error in the hand-made
// slices or AAC frames makes the decoders complain on stderr.
func TestFFmpegDecodesCleanly(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed (apt-get install ffmpeg)")
	}
	s, err := New(Config{Audio: true, Width: 320, Height: 240, GOP: 20})
	if err != nil {
		t.Fatal(err)
	}
	path, _, _ := writeFLV(t, s, 3*time.Second)
	out, err := exec.Command("ffmpeg", "-v", "warning", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg decode: %v\n%s", err, out)
	}
}

func TestBitrateAndGOP(t *testing.T) {
	tests := []Config{
		{Bitrate: 908000, FPS: 25, GOP: 50, Audio: true},
		{Bitrate: 4_000_000, FPS: 60, GOP: 120},
		{Bitrate: 500_000, FPS: 10, GOP: 10, Audio: true, AudioBitrate: 32000},
	}
	for _, cfg := range tests {
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		const d = 10 * time.Second
		var bytes, frames, keys int
		var lastVideo, lastAudio int64 = -1, -1
		var want uint64
		for {
			m, due := s.Next()
			if due >= d {
				break
			}
			if int64(m.Timestamp) != int64(due/time.Millisecond) {
				t.Fatalf("timestamp %d for due %v", m.Timestamp, due)
			}
			switch m.Type {
			case rtmp.TypeVideo:
				if rtmp.IsVideoSequenceHeader(m.Payload) {
					continue
				}
				if int64(m.Timestamp) < lastVideo {
					t.Fatalf("video timestamp went back to %d from %d", m.Timestamp, lastVideo)
				}
				lastVideo = int64(m.Timestamp)
				if c, ok := FrameCounter(m.Payload); !ok || c != want {
					t.Fatalf("frame counter %d %v, want %d", c, ok, want)
				}
				want++
				if rtmp.IsKeyframe(m.Payload) {
					if frames%s.cfg.GOP != 0 {
						t.Fatalf("keyframe at frame %d, GOP %d", frames, s.cfg.GOP)
					}
					keys++
				}
				frames++
			case rtmp.TypeAudio:
				if rtmp.IsAudioSequenceHeader(m.Payload) {
					continue
				}
				if int64(m.Timestamp) < lastAudio {
					t.Fatalf("audio timestamp went back")
				}
				lastAudio = int64(m.Timestamp)
			default:
				continue
			}
			bytes += len(m.Payload)
		}
		got := float64(bytes*8) / d.Seconds()
		if got < 0.95*float64(s.cfg.Bitrate) || got > 1.05*float64(s.cfg.Bitrate) {
			t.Errorf("%+v: %.0f bit/s, want %d ±5%%", cfg, got, s.cfg.Bitrate)
		}
		if frames != int(d.Seconds())*s.cfg.FPS || keys != frames/s.cfg.GOP {
			t.Errorf("%+v: %d frames %d keyframes", cfg, frames, keys)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	bad := []Config{
		{Width: 15, Height: 100},
		{Width: 641, Height: 360},
		{FPS: 1000},
		{Audio: true, Bitrate: 50000, AudioBitrate: 64000},
		{Bitrate: 1 << 30},
	}
	for _, c := range bad {
		if _, err := New(c); err == nil || !strings.HasPrefix(err.Error(), "synth: ") {
			t.Errorf("New(%+v) = %v, want a synth error", c, err)
		}
	}
}

func TestFrameCounterRejectsOthers(t *testing.T) {
	for _, p := range [][]byte{nil, {0x17, 0}, {0x27, 1, 0, 0, 0, 0, 0, 0, 9, 6, 5}, {0xaf, 1, 2, 3, 4, 5}} {
		if _, ok := FrameCounter(p); ok {
			t.Errorf("FrameCounter(%x) ok", p)
		}
	}
}

func FuzzFrameCounter(f *testing.F) {
	s, _ := New(Config{})
	for range 3 {
		m, _ := s.Next()
		f.Add(m.Payload)
	}
	f.Fuzz(func(t *testing.T, p []byte) { FrameCounter(p) })
}
