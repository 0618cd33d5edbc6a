package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// nopTransport lets tests drive sender passes by hand.
type nopTransport struct{}

func (nopTransport) Name() string      { return "nop" }
func (nopTransport) Add(*Player) error { return nil }
func (nopTransport) Flush(*Output)     {}
func (nopTransport) Close() error      { return nil }
func quietLogger() *slog.Logger        { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func newTestHub(cfg Config) *Hub       { return NewHub(cfg, nopTransport{}, quietLogger()) }
func memPlayer(s *Stream) *Player {
	p := &Player{waiting: true, joined: time.Now()}
	if err := s.addPlayer(p, testRTMP); err != nil {
		panic(err)
	}
	return p
}

// testRTMP is the RTMP format of a server with the default chunk size.
var testRTMP = RTMPFormat{ChunkSize: rtmp.DefaultServerChunkSize}

func avcSeq() []byte { return []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f} }
func aacSeq() []byte { return []byte{0xaf, 0, 0x12, 0x10} }
func frame(key bool, n int) []byte {
	p := make([]byte, n)
	p[0], p[1] = 0x27, 1
	if key {
		p[0] = 0x17
	}
	return p
}

func publishTo(t testing.TB, h *Hub, key string) *Stream {
	t.Helper()
	s := h.stream(key)
	if err := s.attachPublisher(&publisher{s: s}); err != nil {
		t.Fatal(err)
	}
	return s
}

func ingest(t testing.TB, s *Stream, typ uint8, ts uint32, p []byte) {
	t.Helper()
	if err := s.ingest(&rtmp.Message{Type: typ, Timestamp: ts, Payload: p}); err != nil {
		t.Fatal(err)
	}
}

// drain runs one sender pass for p over s, pretending the socket took
// `budget` bytes (all when negative), and returns what it was given.
func drain(s *Stream, p *Player, budget int) []byte {
	var v logView
	v.take(&p.out.wire)
	defer v.release()
	st, ok := p.plan(&v, time.Now())
	if !ok {
		return nil
	}
	out := iovBytes(st.iovecs(nil, &v))
	if budget >= 0 && budget < len(out) {
		out = out[:budget]
	}
	p.advance(st, len(out), time.Now())
	return out
}

// readAll parses chunks into messages.
func readAll(t testing.TB, b []byte) []*rtmp.Message {
	t.Helper()
	// The server announces its chunk size at connect; tell the reader too.
	pre := rtmp.AppendMessage(nil, &rtmp.Message{Type: rtmp.TypeSetChunkSize, CSID: 2, Payload: []byte{0, 0, 0x10, 0}}, 128)
	cr := rtmp.NewChunkReader(io.MultiReader(bytes.NewReader(pre), bytes.NewReader(b)), rtmp.DefaultLimits)
	var out []*rtmp.Message
	for {
		m, err := cr.ReadMessage()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("parsing what a player got: %v", err)
		}
		if m.Type == rtmp.TypeSetChunkSize {
			continue
		}
		c := *m
		c.Payload = append([]byte(nil), m.Payload...)
		out = append(out, &c)
	}
}

func TestJoinStartsWithPrefixThenKeyframe(t *testing.T) {
	h := newTestHub(Config{})
	s := publishTo(t, h, "live/x")
	meta, _ := rtmp.AppendAMF0(nil, "@setDataFrame", "onMetaData", rtmp.ECMAArray{{Key: "width", Value: 320.0}})
	ingest(t, s, rtmp.TypeDataAMF0, 0, meta)
	ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
	ingest(t, s, rtmp.TypeAudio, 0, aacSeq())
	ingest(t, s, rtmp.TypeVideo, 0, frame(true, 500))
	ingest(t, s, rtmp.TypeVideo, 40, frame(false, 300))
	ingest(t, s, rtmp.TypeVideo, 80, frame(true, 500)) // newest GOP
	ingest(t, s, rtmp.TypeAudio, 90, []byte{0xaf, 1, 7})

	p := memPlayer(s)
	msgs := readAll(t, drain(s, p, -1))
	var kinds []string
	for _, m := range msgs {
		switch {
		case m.Type == rtmp.TypeDataAMF0:
			kinds = append(kinds, "meta")
		case rtmp.IsSequenceHeader(m.Type, m.Payload):
			kinds = append(kinds, fmt.Sprintf("seq%d", m.Type))
		case m.Type == rtmp.TypeVideo && rtmp.IsKeyframe(m.Payload):
			kinds = append(kinds, fmt.Sprintf("key@%d", m.Timestamp))
		default:
			kinds = append(kinds, fmt.Sprintf("%d@%d", m.Type, m.Timestamp))
		}
	}
	want := "[meta seq9 seq8 key@80 8@90]"
	if fmt.Sprint(kinds) != want {
		t.Fatalf("joiner got %v, want %s", kinds, want)
	}
	if name, _, _ := rtmp.DecodeAMF0(msgs[0].Payload); name != "onMetaData" {
		t.Fatalf("metadata starts with %v, want onMetaData (no @setDataFrame)", name)
	}
	// Metadata at 0 (FLV demuxers ignore it at any other time), sequence
	// headers at the keyframe's time.
	for i, want := range []uint32{0, 80, 80} {
		if msgs[i].Timestamp != want {
			t.Fatalf("prefix message %d stamped %d, want %d", i, msgs[i].Timestamp, want)
		}
	}
}

func TestPlayerWaitsForKeyframe(t *testing.T) {
	h := newTestHub(Config{})
	s := publishTo(t, h, "live/x")
	ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
	ingest(t, s, rtmp.TypeVideo, 40, frame(false, 100))
	p := memPlayer(s)
	if got := drain(s, p, -1); got != nil {
		t.Fatalf("player got %d bytes before any keyframe", len(got))
	}
	ingest(t, s, rtmp.TypeVideo, 80, frame(true, 100))
	msgs := readAll(t, drain(s, p, -1))
	if len(msgs) != 2 || !rtmp.IsKeyframe(msgs[1].Payload) {
		t.Fatalf("got %d messages; want sequence header then keyframe", len(msgs))
	}
}

func TestLaggingPlayerSkipsToNewestKeyframeAtMessageBoundary(t *testing.T) {
	h := newTestHub(Config{LagWindow: 64 << 10})
	s := publishTo(t, h, "live/x")
	ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
	ingest(t, s, rtmp.TypeVideo, 0, frame(true, 10000))
	p := memPlayer(s)
	// Take the prefix and half of the keyframe, then stall.
	first := drain(s, p, 5000)
	ts := uint32(0)
	// Fall more than the lag window behind but stay inside what is retained
	// (twice the lag window), with a newer keyframe to skip to.
	for i := range 20 {
		ts += 40
		ingest(t, s, rtmp.TypeVideo, ts, frame(i == 15, 4000))
	}
	rest := drain(s, p, -1) // completes the message it was in
	after := drain(s, p, -1)
	msgs := readAll(t, append(append(first, rest...), after...))
	if p.Skips.Load() != 1 {
		t.Fatalf("skips = %d, want 1", p.Skips.Load())
	}
	// The stream must still parse, and continue at the newest keyframe.
	last := msgs[len(msgs)-1]
	if len(msgs) < 3 || !rtmp.IsKeyframe(msgs[2].Payload) {
		t.Fatalf("after the skip the player should resume at a keyframe, got %d messages", len(msgs))
	}
	if msgs[2].Timestamp != 16*40 {
		t.Fatalf("resumed at %d ms, want the newest keyframe at %d", msgs[2].Timestamp, 16*40)
	}
	if last.Timestamp != ts {
		t.Fatalf("last timestamp %d, want head %d", last.Timestamp, ts)
	}
}

// TestNewPublisherRejoinsAtItsKeyframe: a lost publisher tells players
// nothing (real players quit on UnpublishNotify, rtmp2src on StreamEOF), a
// clean unpublish tells them the stream ended; either way a publisher that
// returns reaches the same players at its first keyframe, later on the
// timeline.
func TestNewPublisherRejoinsAtItsKeyframe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		leave   func(p *publisher)
		notices int
	}{
		{"connection lost", func(p *publisher) { p.Close() }, 0},
		{"clean unpublish", func(p *publisher) { p.Unpublish() }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHub(Config{})
			s := publishTo(t, h, "live/x")
			ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
			ingest(t, s, rtmp.TypeVideo, 0, frame(true, 100))
			p := memPlayer(s)
			drain(s, p, -1)
			tc.leave(s.publisher)
			eof := readAll(t, drain(s, p, -1))
			if len(eof) != tc.notices {
				t.Fatalf("after the publisher left the player got %d messages, want %d", len(eof), tc.notices)
			}
			if tc.notices > 0 {
				if eof[0].Type != rtmp.TypeUserControl || eof[1].Type != rtmp.TypeCommandAMF0 {
					t.Fatalf("end notice: types %d, %d, want StreamEOF and UnpublishNotify", eof[0].Type, eof[1].Type)
				}
			}
			if err := s.attachPublisher(&publisher{s: s}); err != nil {
				t.Fatal(err)
			}
			ingest(t, s, rtmp.TypeVideo, 5000, []byte{0x17, 0, 0, 0, 0, 2}) // a different sequence header
			ingest(t, s, rtmp.TypeVideo, 5000, frame(false, 50))            // not a place to start
			ingest(t, s, rtmp.TypeVideo, 5040, frame(true, 60))
			notices := drain(s, p, -1) // the previous publisher's part ends here
			msgs := readAll(t, append(notices, drain(s, p, -1)...))
			var got []string
			for _, m := range msgs {
				got = append(got, fmt.Sprintf("%d/%d", m.Type, len(m.Payload)))
			}
			// StreamBegin, PublishNotify, then (join prefix) new sequence header, keyframe.
			if len(msgs) < 4 || msgs[0].Type != rtmp.TypeUserControl || msgs[2].Payload[5] != 2 || !rtmp.IsKeyframe(msgs[3].Payload) {
				t.Fatalf("after republish got %v", got)
			}
			if msgs[3].Timestamp == 0 {
				t.Fatalf("timeline went back: the returning keyframe is at %d", msgs[3].Timestamp)
			}
		})
	}
}

func TestSecondPublisherRefused(t *testing.T) {
	h := newTestHub(Config{})
	s := publishTo(t, h, "live/x")
	if err := s.attachPublisher(&publisher{s: s}); err != errAlreadyPublishing {
		t.Fatalf("second publisher: %v, want errAlreadyPublishing", err)
	}
}

// BenchmarkFanoutInMemory publishes 4 KiB video messages to N in-memory
// players: one ingest plus one sender pass per op. Steady state must not
// allocate. BenchmarkFormatsInMemory (formats_bench_test.go) is the same
// for the other formats' players.
func BenchmarkFanoutInMemory(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("players=%d", n), func(b *testing.B) {
			ms := NewMemStream(b, "live/x")
			BenchFanout(b, ms, ms.AddPlayers(n, testRTMP, nil))
		})
	}
}

func TestWaitingPlayerStartsAtPublishersFirstKeyframe(t *testing.T) {
	h := newTestHub(Config{})
	s := h.stream("live/x")
	early := memPlayer(s) // waiting before anyone publishes
	if err := s.attachPublisher(&publisher{s: s}); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
	for i := range 5 { // several keyframes before the first sender pass
		ingest(t, s, rtmp.TypeVideo, uint32(40*i), frame(true, 100))
	}
	late := memPlayer(s)
	ingest(t, s, rtmp.TypeVideo, 200, frame(true, 100))
	countKeys := func(p *Player) int {
		n := 0
		for _, m := range readAll(t, drain(s, p, -1)) {
			if m.Type == rtmp.TypeVideo && rtmp.IsKeyframe(m.Payload) {
				n++
			}
		}
		return n
	}
	if n := countKeys(early); n != 6 {
		t.Errorf("a player waiting before the publisher got %d of 6 keyframes", n)
	}
	if n := countKeys(late); n != 1 {
		t.Errorf("a late joiner got %d keyframes, want only the newest", n)
	}
}

// TestResumingPlayerGetsOnlyChangedHeaders: a player that stays through a
// publisher change is not sent sequence headers it already has (ffmpeg's
// Matroska muxer and VLC's TS muxer break on repeated ones), but is sent
// those that changed; a player joining then gets them all.
func TestResumingPlayerGetsOnlyChangedHeaders(t *testing.T) {
	aac := []byte{0xaf, 0, 0x12, 0x10}
	for _, tc := range []struct {
		name     string
		videoSeq []byte
		want     string // the resuming player's messages from the new publisher
	}{
		{"same headers", avcSeq(), "[key]"},
		{"new video header", []byte{0x17, 0, 0, 0, 0, 1, 0x4d, 0, 0x1f}, "[vseq key]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHub(Config{})
			s := publishTo(t, h, "live/x")
			ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
			ingest(t, s, rtmp.TypeAudio, 0, aac)
			ingest(t, s, rtmp.TypeVideo, 0, frame(true, 100))
			p := memPlayer(s)
			drain(s, p, -1)
			s.publisher.Close() // a drop
			if err := s.attachPublisher(&publisher{s: s}); err != nil {
				t.Fatal(err)
			}
			ingest(t, s, rtmp.TypeVideo, 9000, tc.videoSeq)
			ingest(t, s, rtmp.TypeAudio, 9000, aac)
			ingest(t, s, rtmp.TypeVideo, 9000, frame(true, 100))
			kinds := func(msgs []*rtmp.Message) string {
				var k []string
				for _, m := range msgs {
					switch {
					case m.Type == rtmp.TypeVideo && rtmp.IsVideoSequenceHeader(m.Payload):
						k = append(k, "vseq")
					case m.Type == rtmp.TypeAudio && rtmp.IsAudioSequenceHeader(m.Payload):
						k = append(k, "aseq")
					case m.Type == rtmp.TypeVideo:
						k = append(k, "key")
					case m.Type == rtmp.TypeDataAMF0:
						k = append(k, "meta")
					}
				}
				return fmt.Sprint(k)
			}
			got := readAll(t, append(drain(s, p, -1), drain(s, p, -1)...))
			if k := kinds(got); k != tc.want {
				t.Errorf("resuming player got %s, want %s", k, tc.want)
			}
			joiner := memPlayer(s)
			if k := kinds(readAll(t, drain(s, joiner, -1))); k != "[vseq aseq key]" {
				t.Errorf("new player got %s, want [vseq aseq key]", k)
			}
		})
	}
}

// TestAwaitPublisher: a name nobody publishes is not found after PlayWait;
// a publisher that comes within it, or a stream in its grace, is found.
func TestAwaitPublisher(t *testing.T) {
	h := newTestHub(Config{PlayWait: 200 * time.Millisecond})
	start := time.Now()
	err := h.AwaitPublisher(context.Background(), "live/none")
	if !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("AwaitPublisher(nobody) = %v, want ErrStreamNotFound", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("not found after %v, want about the 200ms play wait", d)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		s := h.stream("live/late")
		s.attachPublisher(&publisher{s: s})
		h.publisherAttached()
	}()
	if err := h.AwaitPublisher(context.Background(), "live/late"); err != nil {
		t.Errorf("publisher within the play wait: %v", err)
	}
	h.Stream("live/late").publisher.Close() // a drop: in its grace now
	if err := h.AwaitPublisher(context.Background(), "live/late"); err != nil {
		t.Errorf("stream in its grace: %v", err)
	}
}
