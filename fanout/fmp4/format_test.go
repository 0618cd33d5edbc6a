package fmp4

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/mediatest"
	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/rtmp"
)

// record is one Append of an encoder.
type record struct {
	b     []byte
	start bool
	ts    uint32
}

// logRecorder is an Appender that keeps every record.
type logRecorder struct{ recs []record }

func (l *logRecorder) Append(b []byte, start bool, ts uint32) {
	l.recs = append(l.recs, record{append([]byte(nil), b...), start, ts})
}

// encodeAll runs msgs through a fresh encoder of f, as ingest would.
func encodeAll(f Format, msgs []*rtmp.Message) (fanout.Encoder, *logRecorder) {
	enc := f.NewEncoder()
	log := &logRecorder{}
	for _, m := range msgs {
		fr := fanout.Frame{Type: m.Type, Timestamp: m.Timestamp, Payload: m.Payload,
			Key: m.Type == rtmp.TypeVideo && rtmp.IsKeyframe(m.Payload) && !rtmp.IsVideoSequenceHeader(m.Payload)}
		enc.Encode(log, &fr)
	}
	return enc, log
}

// TestLiveEncoderRecords: an init segment first (in the log, not a start),
// then one prft+moof+mdat per video frame; a record is a start exactly
// when its video begins with a keyframe; the join prefix is the init
// segment.
func TestLiveEncoderRecords(t *testing.T) {
	msgs := synthStream(t, synth.Config{Audio: true, GOP: 10}, 2*time.Second)
	enc, log := encodeAll(HTTP, msgs)
	var inits, frags, starts int
	for i, r := range log.recs {
		bs := mustParse(t, r.b)
		switch bs[0].typ {
		case "ftyp":
			inits++
			if r.start {
				t.Errorf("record %d: an init segment flagged start", i)
			}
		case "prft":
			frags++
			if len(bs) != 3 || bs[1].typ != "moof" || bs[2].typ != "mdat" {
				t.Fatalf("record %d: boxes %v, want prft moof mdat", i, typesOf(bs))
			}
			traf, _ := find(bs[1].children, "traf")
			trun, _ := find(traf.children, "trun")
			// The first sample's flags (after version+flags, count, data
			// offset, its duration and size): depends on no other.
			key := trun.body[20] == flagsSync>>24
			if key != r.start {
				t.Errorf("record %d: start %v, first sample sync %v", i, r.start, key)
			}
			if r.start {
				starts++
			}
		default:
			t.Fatalf("record %d starts with %q", i, bs[0].typ)
		}
	}
	if inits != 2 || starts != 5 || frags < 49 {
		t.Fatalf("%d init segments (want 2: video, then video+audio), %d fragments, %d starts (want 5)", inits, frags, starts)
	}
	join := enc.AppendJoin(nil, &fanout.Headers{}, 0, true)
	if !bytes.Equal(join, log.recs[1].b) {
		t.Error("the join prefix is not the newest init segment")
	}
	if rejoin := enc.AppendJoin(nil, &fanout.Headers{Meta: []byte{1}}, 0, false); len(rejoin) != 0 {
		t.Error("a resuming player whose headers did not change gets an init segment again")
	}
}

func typesOf(bs []box) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.typ)
	}
	return out
}

// TestLiveEncoderNewHeaders: a publisher returning with another picture
// size gets a new init segment in the log, and a resuming player gets it
// as its prefix; the same headers again change nothing.
func TestLiveEncoderNewHeaders(t *testing.T) {
	a := synthStream(t, synth.Config{Audio: true, Width: 320, Height: 240}, time.Second)
	b := synthStream(t, synth.Config{Audio: true, Width: 640, Height: 360}, time.Second)
	for _, m := range b {
		m.Timestamp += 2000
	}
	enc, log := encodeAll(HTTP, append(append(a, a...), b...))
	var sizes []int
	for _, r := range log.recs {
		if bs := mustParse(t, r.b); bs[0].typ == "ftyp" {
			v, _ := find(bs, "moov", "trak", "tkhd")
			sizes = append(sizes, int(v.body[len(v.body)-8])<<8|int(v.body[len(v.body)-7]))
		}
	}
	if len(sizes) != 3 || sizes[1] != 320 || sizes[2] != 640 {
		t.Fatalf("init segments of widths %v, want 320 (video), 320, 640 (video+audio)", sizes)
	}
	if j := enc.AppendJoin(nil, &fanout.Headers{VideoSeq: b[1].Payload}, 0, false); !bytes.Equal(j, log.recs[len(log.recs)-1].b) &&
		!bytes.Contains(j, []byte("avc1")) {
		t.Error("a resuming player with new headers gets no init segment")
	}
}

// TestLiveEncoderSeed: an encoder created mid-stream gets its tracks from
// Seed, and its first start is the GOP's keyframe.
func TestLiveEncoderSeed(t *testing.T) {
	msgs := synthStream(t, synth.Config{Audio: true, GOP: 10}, time.Second)
	enc := HTTP.NewEncoder()
	var h fanout.Headers
	var gop []*rtmp.Message
	for _, m := range msgs {
		switch {
		case m.Type == rtmp.TypeVideo && rtmp.IsVideoSequenceHeader(m.Payload):
			h.VideoSeq = m.Payload
		case m.Type == rtmp.TypeAudio && rtmp.IsAudioSequenceHeader(m.Payload):
			h.AudioSeq = m.Payload
		case m.Type == rtmp.TypeVideo && rtmp.IsKeyframe(m.Payload):
			gop = []*rtmp.Message{m}
		default:
			gop = append(gop, m)
		}
	}
	enc.(fanout.Seeder).Seed(&h)
	log := &logRecorder{}
	for _, m := range gop {
		enc.Encode(log, &fanout.Frame{Type: m.Type, Timestamp: m.Timestamp, Payload: m.Payload, Key: m.Type == rtmp.TypeVideo && rtmp.IsKeyframe(m.Payload)})
	}
	if len(log.recs) == 0 || !log.recs[0].start {
		t.Fatalf("%d records, the first not a start", len(log.recs))
	}
	init := enc.AppendJoin(nil, &h, 0, true)
	if bs := mustParse(t, init); len(bs) != 2 || bs[0].typ != "ftyp" {
		t.Fatalf("join prefix %v", typesOf(bs))
	}
}

// TestLiveEncoderWebSocket: every record is one binary frame around what
// the HTTP encoder writes.
func TestLiveEncoderWebSocket(t *testing.T) {
	msgs := synthStream(t, synth.Config{Audio: true}, time.Second)
	_, plain := encodeAll(HTTP, msgs)
	_, ws := encodeAll(WebSocket, msgs)
	if len(plain.recs) != len(ws.recs) {
		t.Fatalf("%d records over HTTP, %d over WebSocket", len(plain.recs), len(ws.recs))
	}
	for i, r := range ws.recs {
		if r.b[0] != 0x82 || !bytes.HasSuffix(r.b, plain.recs[i].b[len(plain.recs[i].b)-16:]) {
			t.Fatalf("record %d is not one binary frame: % x", i, r.b[:4])
		}
	}
}

// TestLiveEncoderAllocs: steady-state encoding allocates nothing.
func TestLiveEncoderAllocs(t *testing.T) {
	msgs := synthStream(t, synth.Config{Audio: true}, 4*time.Second)
	enc := HTTP.NewEncoder()
	var log nopLog
	frames := make([]fanout.Frame, len(msgs))
	for i, m := range msgs {
		frames[i] = fanout.Frame{Type: m.Type, Timestamp: m.Timestamp, Payload: m.Payload, Key: m.Type == rtmp.TypeVideo && rtmp.IsKeyframe(m.Payload)}
	}
	for i := range frames {
		enc.Encode(log, &frames[i])
	}
	media := frames[len(frames)/2:]
	i := 0
	allocs := testing.AllocsPerRun(len(media)*2, func() {
		enc.Encode(log, &media[i%len(media)])
		i++
	})
	if allocs != 0 {
		t.Fatalf("%.2f allocations per message", allocs)
	}
}

type nopLog struct{}

func (nopLog) Append([]byte, bool, uint32) {}

// BenchmarkLiveEncoder is the cost of one message into the fMP4 log.
func BenchmarkLiveEncoder(b *testing.B) {
	msgs := synthStream(b, synth.Config{Audio: true}, 4*time.Second)
	enc := HTTP.NewEncoder()
	var log nopLog
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m := msgs[i%len(msgs)]
		enc.Encode(log, &fanout.Frame{Type: m.Type, Timestamp: m.Timestamp, Payload: m.Payload})
	}
}

// TestLiveEncoderFFprobe: what a player of a real ffmpeg encode receives —
// the join prefix, then the records from the first start — is read by
// ffprobe as exactly one H.264 and one AAC stream with every frame.
func TestLiveEncoderFFprobe(t *testing.T) {
	clip := mediatest.Default
	msgs := mediatest.Messages(t, mediatest.Path(t, clip))
	enc, log := encodeAll(HTTP, msgs)
	file := enc.AppendJoin(nil, &fanout.Headers{}, 0, true)
	started := false
	for _, r := range log.recs {
		started = started || r.start
		if started {
			file = append(file, r.b...)
		}
	}
	path := filepath.Join(t.TempDir(), "live.mp4")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries",
		"stream=codec_name,nb_read_frames", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, out)
	}
	got := strings.Fields(strings.TrimSpace(string(out)))
	// The newest video frame waits for its successor, so one is not out yet.
	if len(got) != 2 || got[0] != "h264,"+strconv.Itoa(clip.Seconds*clip.FPS-1) || !strings.HasPrefix(got[1], "aac,") {
		t.Fatalf("ffprobe: %q, want h264 with %d frames and aac", got, clip.Seconds*clip.FPS-1)
	}
}
