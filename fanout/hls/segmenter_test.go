package hls

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/fanout/hls/hlstest"
	"github.com/bbllive/bbllive/rtmp"
)

// feeder runs messages through a segmenter as a remuxer would, checking
// every playlist it renders against the LL-HLS rules and its predecessor.
type feeder struct {
	t     *testing.T
	seg   *segmenter
	prev  *hlstest.Playlist
	lists int
	off   uint32 // timeline offset, as fanout's correction applies it
	gap   bool   // mark the next feed's first media as following dropped messages
}

func newFeeder(t *testing.T, cfg Config) *feeder {
	cfg.withDefaults()
	f := &feeder{t: t}
	f.seg = newSegmenter(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), f.check)
	return f
}

func (f *feeder) check() {
	if !f.seg.ready() {
		return
	}
	pl, err := hlstest.Parse(f.seg.render("e", ""))
	if err != nil {
		f.t.Fatal(err)
	}
	if err := pl.Validate(); err != nil {
		f.t.Fatalf("playlist %d breaks the rules: %v\n%s", f.lists, err, f.seg.render("e", ""))
	}
	if f.prev != nil {
		if err := f.prev.Continues(pl); err != nil {
			f.t.Fatalf("playlist %d: %v", f.lists, err)
		}
	}
	f.prev = pl
	f.lists++
}

// feed sends a synthetic stream of d, its timestamps moved to start at
// the feeder's running offset (the stream timeline of a reconnect).
func (f *feeder) feed(cfg synth.Config, d time.Duration) {
	src, err := synth.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	var last uint32
	for {
		m, at := src.Next()
		if at > d {
			break
		}
		if m.Type != rtmp.TypeVideo && m.Type != rtmp.TypeAudio {
			continue
		}
		last = m.Timestamp + f.off
		f.seg.handle(m.Type, last, m.Payload, f.gap && !rtmp.IsSequenceHeader(m.Type, m.Payload))
		if !rtmp.IsSequenceHeader(m.Type, m.Payload) {
			f.gap = false
		}
	}
	f.off = last + 40
}

func TestSegmentsFollowGOPsAndParts(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		src  synth.Config
	}{
		{"25fps gop1s", Config{SegmentTarget: time.Second}, synth.Config{FPS: 25, GOP: 25, Audio: true}},
		{"30fps gop2s", Config{}, synth.Config{FPS: 30, GOP: 60, Audio: true}},
		{"gop longer than target", Config{SegmentTarget: time.Second}, synth.Config{FPS: 25, GOP: 75, Audio: true}},
		{"part 100ms video only", Config{PartTarget: 100 * time.Millisecond}, synth.Config{FPS: 25, GOP: 50}},
		{"part 500ms", Config{PartTarget: 500 * time.Millisecond}, synth.Config{FPS: 25, GOP: 50, Audio: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeeder(t, tc.cfg)
			f.feed(tc.src, 30*time.Second)
			if f.lists < 20 {
				t.Fatalf("only %d playlists", f.lists)
			}
			pl := f.prev
			if len(pl.Segments) != f.seg.cfg.Window {
				t.Fatalf("%d segments listed, want the window of %d", len(pl.Segments), f.seg.cfg.Window)
			}
			gop := float64(tc.src.GOP) / float64(tc.src.FPS)
			for _, s := range pl.Segments {
				// Whole GOPs, at least the target.
				n := s.Duration / gop
				if s.Duration < f.seg.cfg.SegmentTarget.Seconds()-0.001 || n-float64(int(n+0.001)) > 0.002 {
					t.Errorf("segment %d lasts %.3fs: not whole %.2fs GOPs of at least the target", s.MSN, s.Duration, gop)
				}
			}
			if pl.Segments[0].MSN == 0 {
				t.Error("no segment left the window")
			}
		})
	}
}

// TestTimestampJumps: a publisher's clock that jumps ahead (a looped
// file, a stall) never makes a part longer than the part target.
func TestTimestampJumps(t *testing.T) {
	f := newFeeder(t, Config{SegmentTarget: time.Second})
	for _, jump := range []uint32{0, 86, 150, 230, 1000, 5} {
		f.off += jump
		f.feed(synth.Config{GOP: 25, Audio: true}, 1900*time.Millisecond)
	}
	if f.lists < 30 {
		t.Fatalf("only %d playlists", f.lists)
	}
}

// TestDroppedMessagesMakeADiscontinuity: after the remuxer's queue
// overflowed, the media resumes at a keyframe behind EXT-X-DISCONTINUITY,
// with the same init segment.
func TestDroppedMessagesMakeADiscontinuity(t *testing.T) {
	f := newFeeder(t, Config{SegmentTarget: time.Second})
	f.feed(synth.Config{GOP: 25, Audio: true}, 3*time.Second)
	f.off += 2000
	f.gap = true
	f.feed(synth.Config{GOP: 25, Audio: true}, 3*time.Second)
	n := 0
	for _, s := range f.prev.Segments {
		if s.Discontinuity {
			n++
			if s.Map != f.prev.Segments[0].Map {
				t.Errorf("segment %d after the gap has init %s", s.MSN, s.Map)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d discontinuities, want 1:\n%s", n, f.seg.render("e", ""))
	}
}

func TestAudioOnly(t *testing.T) {
	f := newFeeder(t, Config{SegmentTarget: time.Second})
	src, _ := synth.New(synth.Config{Audio: true})
	for {
		m, at := src.Next()
		if at > 10*time.Second {
			break
		}
		if m.Type == rtmp.TypeAudio {
			f.seg.handle(m.Type, m.Timestamp, m.Payload, false)
		}
	}
	if f.lists < 10 || len(f.prev.Segments) == 0 || f.prev.Segments[0].Duration < 0.9 {
		t.Fatalf("audio-only: %d playlists, last %+v", f.lists, f.prev)
	}
}

// TestReconnectWithOtherSettings: a publisher comes back with another
// picture size; the playlist marks the discontinuity, names a new init
// segment, and keeps the media sequence going.
func TestReconnectWithOtherSettings(t *testing.T) {
	f := newFeeder(t, Config{SegmentTarget: time.Second, Window: 4})
	f.feed(synth.Config{Width: 640, Height: 360, GOP: 25, Audio: true}, 4*time.Second)
	before := f.prev.Segments[len(f.prev.Segments)-1]
	f.feed(synth.Config{Width: 320, Height: 240, GOP: 25, Audio: true}, 2500*time.Millisecond)
	pl := f.prev
	var after *hlstest.Segment
	for i := range pl.Segments {
		if pl.Segments[i].Discontinuity {
			after = &pl.Segments[i]
		}
	}
	if after == nil {
		t.Fatalf("no discontinuity after the reconnect:\n%s", f.seg.render("e", ""))
	}
	if after.Map == before.Map || after.DSN != before.DSN+1 || after.MSN <= before.MSN {
		t.Fatalf("after the reconnect %+v, before %+v", after, before)
	}
	if id := f.seg.init.id; id != 2 || !strings.Contains(string(f.seg.init.data), "avcC") {
		t.Fatalf("init segment %d after the reconnect", id)
	}
	// The same settings again: no discontinuity, the same init segment.
	f.feed(synth.Config{Width: 320, Height: 240, GOP: 25, Audio: true}, 6*time.Second)
	if f.seg.init.id != 2 {
		t.Fatalf("a reconnect with the same settings made init segment %d", f.seg.init.id)
	}
	for _, s := range f.prev.Segments[1:] {
		if s.Discontinuity {
			t.Fatalf("discontinuity at segment %d with unchanged settings:\n%s", s.MSN, f.seg.render("e", ""))
		}
	}
	// The discontinuity has left the window: its count moved to the header.
	if f.prev.DiscontinuitySequence != 1 {
		t.Fatalf("EXT-X-DISCONTINUITY-SEQUENCE %d, want 1", f.prev.DiscontinuitySequence)
	}
}

func TestBlockingPredicates(t *testing.T) {
	f := newFeeder(t, Config{SegmentTarget: time.Second})
	f.feed(synth.Config{GOP: 25}, 3300*time.Millisecond)
	s := f.seg
	cur := s.cur
	if cur == nil || len(cur.parts) == 0 {
		t.Fatal("no open segment with parts")
	}
	last := s.segments[len(s.segments)-1]
	cases := []struct {
		msn      uint64
		part     int
		has, far bool
	}{
		{last.msn, -1, true, false},
		{last.msn, len(last.parts) - 1, true, false},
		{last.msn, len(last.parts), true, false}, // = next segment's part 0
		{cur.msn, len(cur.parts) - 1, true, false},
		{cur.msn, len(cur.parts), false, false},
		{cur.msn, -1, false, false},
		{cur.msn + 1, 0, false, false},
		{cur.msn + 2, 0, false, false},
		{cur.msn + 3, 0, false, true},
		{cur.msn, len(cur.parts) + advancePartLimit + 1, false, true},
		{0, 0, true, false},
	}
	for _, tc := range cases {
		if got := s.has(tc.msn, tc.part); got != tc.has {
			t.Errorf("has(%d, %d) = %v", tc.msn, tc.part, got)
		}
		if got := s.tooFar(tc.msn, tc.part); got != tc.far {
			t.Errorf("tooFar(%d, %d) = %v", tc.msn, tc.part, got)
		}
	}
}
