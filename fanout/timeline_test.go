package fanout

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/bbllive/bbllive/rtmp"
)

// TestTimeline runs publishers' timestamps through a timeline. A script is
// words: v<ts> a video frame, a<ts> an audio frame, h<ts> a sequence
// header, d<ts> a data message, "|" a new publisher of the stream (a reconnect, an edge's new
// upstream).
func TestTimeline(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"starts at zero", "v1000 v1040 v1080", "v0 v40 v80"},
		{"interleave tolerated", "v0 v40 a23 v80", "v0 v40 a23 v80"},
		{"reconnect continues", "v0 v40 v80 | v0 v40", "v0 v40 v80 v120 v160"},
		// The new source's audio first, its video 40 ms behind it: the
		// video would repeat the previous source's last timestamp, so the
		// source starts 1 ms later, audio and video alike.
		{"new source audio first", "a0 v0 a23 v40 a46 v80 | a5000 v4960 a5023 v5000",
			"a0 v0 a23 v40 a46 v80 a120 v81 a144 v121"},
		{"new source video first", "a0 v0 a23 v40 a46 v80 | v5000 a4900 v5040 a4923",
			"a0 v0 a23 v40 a46 v80 v120 a47 v187 a70"},
		{"new source audio first, video ahead", "a0 v0 a23 v40 | a5000 v5010 a5023",
			"a0 v0 a23 v40 a80 v90 a103"},
		{"audio only", "a0 a23 a46 | a100 a123", "a0 a23 a46 a86 a109"},
		{"video only", "v0 v40 | v7 v47", "v0 v40 v80 v120"},
		{"new source's clock behind", "v50000 a50010 v50040 | v10 a20 v50", "v0 a10 v40 v80 a90 v120"},
		{"new source's clock far ahead", "v0 a5 v40 | a900000 v900000 v900040", "v0 a5 v40 a80 v80 v120"},
		{"clock jump forward", "v0 a10 v40 a50 v500000 a500010 v500040", "v0 a10 v40 a50 v90 a100 v130"},
		{"clock jump forward on audio", "v0 a10 v40 a50 a500000 v499990 a500023", "v0 a10 v40 a50 a90 v80 a113"},
		{"clock reset backward", "v50000 v50040 v10 v50", "v0 v40 v80 v120"},
		{"publisher repeats a timestamp", "v0 v40 v40 v80", "v0 v40 v41 v80"},
		{"second track starts earlier", "a100 v80 a123 v120", "a0 v0 a43 v40"},
		{"32-bit wrap", "v4294967040 v4294967080 v16", "v0 v40 v272"},
		{"keyframe at its header's time", "h5000 h5000 v5000 a5000 v5040 h5040 v5080", "h0 h0 v0 a0 v40 h40 v80"},
		{"data between frames", "v0 d40 v40 a40 d60 v80", "v0 d40 v40 a40 d60 v80"},
		{"headers of a new source", "v0 a0 v40 | h0 h0 v0 a0", "v0 a0 v40 h80 h80 v80 a80"},
		// ffmpeg stamps its headers 0 whatever its first frame's time.
		{"headers at 0, frames later", "v0 v40 | h0 h0 a7000 v7000", "v0 v40 h80 h80 a80 v80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tl timeline
			var got []string
			last := [frameKinds]int64{-1, -1}
			for _, w := range strings.Fields(tt.in) {
				if w == "|" {
					tl.resync = true
					continue
				}
				k, in := timelineWord(t, w)
				out := tl.next(k, in)
				got = append(got, fmt.Sprintf("%c%d", w[0], out))
				if k != noTrack {
					if int64(out) <= last[k] {
						t.Errorf("%s: %c%d after %c%d: not after that track's previous frame", w, w[0], out, w[0], last[k])
					}
					last[k] = int64(out)
				}
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
		})
	}
}

// timelineWord parses one word of a TestTimeline script.
func timelineWord(t *testing.T, w string) (frameKind, uint32) {
	t.Helper()
	ts, err := strconv.ParseUint(w[1:], 10, 32)
	if err != nil {
		t.Fatalf("script word %q: %v", w, err)
	}
	switch w[0] {
	case 'v':
		return videoFrame, uint32(ts)
	case 'a':
		return audioFrame, uint32(ts)
	case 'h', 'd':
		return noTrack, uint32(ts)
	}
	t.Fatalf("script word %q: want v, a, h or d and a timestamp", w)
	return 0, 0
}

// TestReturningPublisherKeepsEachTrackMonotonic is the stream's side of
// TestTimeline: what its players and remuxers get (the tap sees the frames
// as every format's encoder does) across a publisher change whose first
// frame is audio, its video a frame behind that audio.
func TestReturningPublisherKeepsEachTrackMonotonic(t *testing.T) {
	h := newTestHub(Config{})
	s := publishTo(t, h, "live/tracks")
	tap := &recordTap{}
	defer s.AddTap(tap)()
	audio := []byte{0xaf, 1, 0x21}
	ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
	ingest(t, s, rtmp.TypeAudio, 0, aacSeq())
	for i := range uint32(25) {
		ingest(t, s, rtmp.TypeVideo, i*40, frame(i == 0, 10))
		ingest(t, s, rtmp.TypeAudio, i*40-min(i, 1)*20, audio)
	}
	s.detachPublisher(s.publisher)
	if err := s.attachPublisher(&publisher{s: s}); err != nil {
		t.Fatal(err)
	}
	// Its headers, its first audio frame and its first video frame, which
	// may still move the source; from then on, A/V as published.
	settled := len(tap.msgs) + 4
	ingest(t, s, rtmp.TypeVideo, 7000, avcSeq()) // an origin stamps them as the frame they precede
	ingest(t, s, rtmp.TypeAudio, 7000, aacSeq())
	for i := range uint32(25) {
		ingest(t, s, rtmp.TypeAudio, 7000+i*40, audio)
		ingest(t, s, rtmp.TypeVideo, 7000+i*40-40, frame(i == 0, 10))
	}
	last := map[uint8]int64{rtmp.TypeVideo: -1, rtmp.TypeAudio: -1}
	var sync []int64 // video minus the audio before it, per settled video frame of the second publisher
	for i, m := range tap.msgs {
		if rtmp.IsSequenceHeader(m.Type, m.Payload) {
			continue
		}
		if int64(m.Timestamp) <= last[m.Type] {
			t.Errorf("message %d (type %d) at %d, after %d on the same track", i, m.Type, m.Timestamp, last[m.Type])
		}
		last[m.Type] = int64(m.Timestamp)
		if m.Type == rtmp.TypeVideo && i >= settled {
			sync = append(sync, int64(m.Timestamp)-last[rtmp.TypeAudio])
		}
	}
	if len(sync) != 24 {
		t.Fatalf("%d settled video frames of the second publisher, want 24", len(sync))
	}
	for _, d := range sync {
		if d != -40 {
			t.Fatalf("video against audio of the second publisher: %v ms, want -40 throughout as it published", sync)
		}
	}
}

// TestDataMessageTakesNoTracksPlace: a publisher's data message (here a
// cue point) at a video frame's time does not push that frame later.
func TestDataMessageTakesNoTracksPlace(t *testing.T) {
	h := newTestHub(Config{})
	s := publishTo(t, h, "live/cue")
	tap := &recordTap{}
	defer s.AddTap(tap)()
	cue := append([]byte{0x02, 0, 10}, "onCuePoint"...)
	ingest(t, s, rtmp.TypeVideo, 0, frame(true, 10))
	ingest(t, s, rtmp.TypeDataAMF0, 40, cue)
	ingest(t, s, rtmp.TypeVideo, 40, frame(false, 10))
	var got []uint32
	for _, m := range tap.msgs {
		got = append(got, m.Timestamp)
	}
	if fmt.Sprint(got) != "[0 40 40]" {
		t.Fatalf("stamped %v, want [0 40 40]", got)
	}
}
