package fanout

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/bbllive/bbllive/rtmp"
)

// recFormat is a test format whose records are readable: "<type ts len>"
// and the payload's length; its first join starts with "HDR".
type recFormat struct{}

func (recFormat) Name() string        { return "rec" }
func (recFormat) NewEncoder() Encoder { return &recEncoder{} }

type recEncoder struct{ scratch []byte }

func rec(typ uint8, ts uint32, n int) string { return string(appendRec(nil, typ, ts, n)) }

func appendRec(dst []byte, typ uint8, ts uint32, n int) []byte {
	dst = strconv.AppendUint(append(dst, '<'), uint64(typ), 10)
	dst = strconv.AppendUint(append(dst, ' '), uint64(ts), 10)
	dst = strconv.AppendUint(append(dst, ' '), uint64(n), 10)
	return append(dst, '>')
}

func (e *recEncoder) Encode(log Appender, f *Frame) {
	e.scratch = appendRec(e.scratch[:0], f.Type, f.Timestamp, len(f.Payload))
	log.Append(e.scratch, f.Key, f.Timestamp)
}

func (e *recEncoder) AppendJoin(dst []byte, h *Headers, ts uint32, first bool) []byte {
	if first {
		dst = append(dst, "HDR"...)
	}
	if h.VideoSeq != nil {
		dst = append(dst, rec(rtmp.TypeVideo, ts, len(h.VideoSeq))...)
	}
	if h.AudioSeq != nil {
		dst = append(dst, rec(rtmp.TypeAudio, ts, len(h.AudioSeq))...)
	}
	return dst
}

func recPlayer(t *testing.T, s *Stream) *Player {
	t.Helper()
	p := &Player{waiting: true}
	if err := s.addPlayer(p, recFormat{}); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNewFormatStartsFromGOPCache: the first player of a format, arriving
// mid-GOP, starts at once at the newest keyframe, from the format-neutral
// GOP cache, without waiting for the next keyframe.
func TestNewFormatStartsFromGOPCache(t *testing.T) {
	h := newTestHub(Config{})
	s := publishTo(t, h, "live/x")
	ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
	ingest(t, s, rtmp.TypeAudio, 0, aacSeq())
	ingest(t, s, rtmp.TypeVideo, 0, frame(true, 500))
	ingest(t, s, rtmp.TypeVideo, 40, frame(false, 300))
	ingest(t, s, rtmp.TypeVideo, 80, frame(true, 400)) // newest GOP
	ingest(t, s, rtmp.TypeAudio, 90, []byte{0xaf, 1, 7})
	ingest(t, s, rtmp.TypeVideo, 120, frame(false, 200))

	p := recPlayer(t, s)
	got := string(drain(s, p, -1))
	want := "HDR" + rec(9, 80, len(avcSeq())) + rec(8, 80, len(aacSeq())) + rec(9, 80, 400) + rec(8, 90, 3) + rec(9, 120, 200)
	if got != want {
		t.Fatalf("a new format's first player got\n%s\nwant\n%s", got, want)
	}
	if n := s.GOPBytes(); n == 0 {
		t.Error("GOPBytes is 0 with a GOP cached")
	}
}

// TestOutputLivesWithItsPlayers: an output is created with its format's
// first player, shared by the next, and dropped (its log freed) with the
// last; the RTMP output is untouched.
func TestOutputLivesWithItsPlayers(t *testing.T) {
	h := newTestHub(Config{})
	s := publishTo(t, h, "live/x")
	rp := memPlayer(s)
	a, b := recPlayer(t, s), recPlayer(t, s)
	if a.out != b.out || a.out == rp.out || len(s.outputs) != 2 {
		t.Fatalf("outputs: %d, shared by the rec players: %v", len(s.outputs), a.out == b.out)
	}
	ingest(t, s, rtmp.TypeVideo, 0, frame(true, 100))
	o := a.out
	a.Close()
	if len(s.outputs) != 2 || o.dropped {
		t.Fatal("the output went with one of its two players")
	}
	b.Close()
	if len(s.outputs) != 1 || !o.dropped || o.wire.blocks.len() != 0 {
		t.Fatalf("after its last player: %d outputs, dropped %v, %d blocks kept", len(s.outputs), o.dropped, o.wire.blocks.len())
	}
	if s.outputs[0] != rp.out {
		t.Fatal("the RTMP output was dropped instead")
	}
	c := recPlayer(t, s)
	if c.out == o {
		t.Fatal("a dropped output was reused")
	}
}

// TestControlMessagesOnlyInRTMP: a publisher's clean unpublish is told to
// RTMP players in their stream; other formats carry no such messages.
func TestControlMessagesOnlyInRTMP(t *testing.T) {
	h := newTestHub(Config{})
	s := publishTo(t, h, "live/x")
	rp, fp := memPlayer(s), recPlayer(t, s)
	ingest(t, s, rtmp.TypeVideo, 0, frame(true, 100))
	rHead, fHead := rp.out.wire.head.Load(), fp.out.wire.head.Load()
	s.publisher.Unpublish()
	if rp.out.wire.head.Load() == rHead {
		t.Error("RTMP players were not told the publisher left")
	}
	if fp.out.wire.head.Load() != fHead {
		t.Error("RTMP control messages went into another format's log")
	}
}

// TestRejoinHasNoSecondFileHeader: when a publisher returns, a player of
// a format with a file header rejoins at its keyframe with the headers
// that changed but without a second file header.
func TestRejoinHasNoSecondFileHeader(t *testing.T) {
	h := newTestHub(Config{})
	s := publishTo(t, h, "live/x")
	p := recPlayer(t, s)
	ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
	ingest(t, s, rtmp.TypeVideo, 0, frame(true, 100))
	if got := drain(s, p, -1); !bytes.HasPrefix(got, []byte("HDR")) {
		t.Fatalf("first join: %q", got)
	}
	s.detachPublisher(s.publisher)
	if err := s.attachPublisher(&publisher{s: s}); err != nil {
		t.Fatal(err)
	}
	newSeq := append(avcSeq(), 0x42) // other settings: the player needs them
	ingest(t, s, rtmp.TypeVideo, 0, newSeq)
	ingest(t, s, rtmp.TypeVideo, 0, frame(true, 100))
	var got []byte
	for range 3 {
		got = append(got, drain(s, p, -1)...)
	}
	// The timeline runs on across the publisher change: its keyframe is at 40.
	if bytes.Contains(got, []byte("HDR")) || !bytes.Contains(got, []byte(rec(9, 40, len(newSeq))+rec(9, 40, 100))) {
		t.Fatalf("rejoin: %q", got)
	}
}

// TestSendControlBetweenRecords: a player's own message waits for the end
// of the record it is in, then goes out before the rest of the log.
func TestSendControlBetweenRecords(t *testing.T) {
	h := newTestHub(Config{})
	s := publishTo(t, h, "live/x")
	p := recPlayer(t, s)
	ingest(t, s, rtmp.TypeVideo, 0, frame(true, 100))
	ingest(t, s, rtmp.TypeVideo, 40, frame(false, 100))
	first := drain(s, p, 5) // "HDR" and two bytes of the first record
	p.queueControl([]byte("PONG"), false)
	rest := drain(s, p, -1)
	got := string(first) + string(rest)
	for len(rest) > 0 {
		rest = drain(s, p, -1)
		got += string(rest)
	}
	want := "HDR" + rec(9, 0, 100) + "PONG" + rec(9, 40, 100)
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// BenchmarkIngestTwoFormats: ingest into RTMP and a second format with a
// player each allocates nothing per message.
func BenchmarkIngestTwoFormats(b *testing.B) {
	h := newTestHub(Config{})
	s := publishTo(b, h, "live/x")
	memPlayer(s)
	if err := s.addPlayer(&Player{waiting: true}, recFormat{}); err != nil {
		b.Fatal(err)
	}
	m := rtmp.Message{Type: rtmp.TypeVideo, Payload: frame(false, 4096)}
	key := frame(true, 4096)
	for i := range 2000 { // warm up: blocks recycled, GOP cache grown
		m.Timestamp = uint32(i)
		s.ingest(&m)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m.Timestamp = uint32(2000 + i)
		m.Payload = m.Payload[:4096]
		if i%50 == 0 {
			m.Payload = key
		}
		s.ingest(&m)
		m.Payload = frame4k
	}
}

var frame4k = frame(false, 4096)
