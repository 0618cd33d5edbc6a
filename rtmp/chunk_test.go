package rtmp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
)

// hx decodes hex with spaces, for hand-built chunk streams.
func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// pattern is a payload whose every byte depends on its offset and seed, so
// misplaced chunks show.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i%251) ^ seed
	}
	return p
}

// readAll reads messages until an error, copying payloads out of the
// reader's reused buffers.
func readAll(cr *ChunkReader) ([]Message, error) {
	var msgs []Message
	for {
		m, err := cr.ReadMessage()
		if err != nil {
			return msgs, err
		}
		c := *m
		c.Payload = append([]byte{}, m.Payload...)
		msgs = append(msgs, c)
	}
}

func sameMessage(a, b Message) bool {
	return a.Type == b.Type && a.StreamID == b.StreamID && a.Timestamp == b.Timestamp &&
		a.CSID == b.CSID && bytes.Equal(a.Payload, b.Payload)
}

func describe(m Message) string {
	return fmt.Sprintf("{type %d stream %d ts %#x csid %d len %d}", m.Type, m.StreamID, m.Timestamp, m.CSID, len(m.Payload))
}

func checkMessages(t *testing.T, got, want []Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameMessage(got[i], want[i]) {
			t.Errorf("message %d: got %s, want %s", i, describe(got[i]), describe(want[i]))
		}
	}
}

var (
	p300 = pattern(300, 0)
	pa   = pattern(200, 0x55)
	pv   = pattern(200, 0xAA)
)

// chunkVectors are hand-built chunk streams and what they must decode to.
var chunkVectors = []struct {
	name          string
	stream        []byte
	want          []Message
	wantChunkSize uint32
}{
	{
		name: "300-byte video at 128: type 0 and two type 3",
		stream: cat(hx("06 0003e8 00012c 09 01000000"), p300[:128],
			hx("c6"), p300[128:256], hx("c6"), p300[256:]),
		want: []Message{{Type: TypeVideo, StreamID: 1, Timestamp: 1000, CSID: 6, Payload: p300}},
	},
	{
		name: "type 1, 2 and 3 deltas",
		stream: cat(
			hx("04 0003e8 000002 08 01000000 aabb"),
			hx("44 000014 000003 08 ccddee"),
			hx("84 00001e 112233"),
			hx("c4 445566")),
		want: []Message{
			{Type: TypeAudio, StreamID: 1, Timestamp: 1000, CSID: 4, Payload: hx("aabb")},
			{Type: TypeAudio, StreamID: 1, Timestamp: 1020, CSID: 4, Payload: hx("ccddee")},
			{Type: TypeAudio, StreamID: 1, Timestamp: 1050, CSID: 4, Payload: hx("112233")},
			{Type: TypeAudio, StreamID: 1, Timestamp: 1080, CSID: 4, Payload: hx("445566")},
		},
	},
	{
		name: "type 3 after type 0 adds the absolute field (ffmpeg ts_field)",
		stream: cat(
			hx("05 000064 000001 12 00000000 01"),
			hx("c5 02"),
			hx("c5 03")),
		want: []Message{
			{Type: TypeDataAMF0, Timestamp: 100, CSID: 5, Payload: hx("01")},
			{Type: TypeDataAMF0, Timestamp: 200, CSID: 5, Payload: hx("02")},
			{Type: TypeDataAMF0, Timestamp: 300, CSID: 5, Payload: hx("03")},
		},
	},
	{
		name: "extended timestamp repeated on continuations, type 3 new and type 1 wrap",
		stream: cat(
			hx("06 ffffff 0000c8 09 01000000 01000000"), pv[:128], hx("c6 01000000"), pv[128:],
			hx("c6 01000000"), pa[:128], hx("c6 01000000"), pa[128:],
			hx("46 ffffff 000002 09 ffffffff aabb")),
		want: []Message{
			{Type: TypeVideo, StreamID: 1, Timestamp: 0x01000000, CSID: 6, Payload: pv},
			{Type: TypeVideo, StreamID: 1, Timestamp: 0x02000000, CSID: 6, Payload: pa},
			{Type: TypeVideo, StreamID: 1, Timestamp: 0x01FFFFFF, CSID: 6, Payload: hx("aabb")},
		},
	},
	{
		name: "two- and three-byte basic headers",
		stream: cat(
			hx("3f 000001 000082 14 00000000"), pa[:128], hx("ff"), pa[128:130],
			hx("00 00 000002 000082 14 00000000"), pa[:128], hx("c0 00"), pa[128:130],
			hx("00 ff 000003 000082 14 00000000"), pa[:128], hx("c0 ff"), pa[128:130],
			hx("01 00 01 000004 000082 14 00000000"), pa[:128], hx("c1 00 01"), pa[128:130],
			hx("01 ff ff 000005 000082 14 00000000"), pa[:128], hx("c1 ff ff"), pa[128:130]),
		want: []Message{
			{Type: TypeCommandAMF0, Timestamp: 1, CSID: 63, Payload: pa[:130]},
			{Type: TypeCommandAMF0, Timestamp: 2, CSID: 64, Payload: pa[:130]},
			{Type: TypeCommandAMF0, Timestamp: 3, CSID: 319, Payload: pa[:130]},
			{Type: TypeCommandAMF0, Timestamp: 4, CSID: 320, Payload: pa[:130]},
			{Type: TypeCommandAMF0, Timestamp: 5, CSID: 65599, Payload: pa[:130]},
		},
	},
	{
		name: "two chunk streams interleaved",
		stream: cat(
			hx("04 000000 0000c8 08 01000000"), pa[:128],
			hx("06 000000 0000c8 09 01000000"), pv[:128],
			hx("c6"), pv[128:],
			hx("c4"), pa[128:]),
		want: []Message{
			{Type: TypeVideo, StreamID: 1, CSID: 6, Payload: pv},
			{Type: TypeAudio, StreamID: 1, CSID: 4, Payload: pa},
		},
	},
	{
		name: "set chunk size mid-stream",
		stream: cat(
			hx("02 000000 000004 01 00000000 00000100"),
			hx("06 000000 00012c 09 01000000"), p300[:256], hx("c6"), p300[256:]),
		want: []Message{
			{Type: TypeSetChunkSize, CSID: 2, Payload: hx("00000100")},
			{Type: TypeVideo, StreamID: 1, CSID: 6, Payload: p300},
		},
		wantChunkSize: 256,
	},
	{
		name: "abort drops a partial message",
		stream: cat(
			hx("06 000000 0000c8 09 01000000"), pv[:128],
			hx("02 000000 000004 02 00000000 00000006"),
			hx("06 000000 000003 09 01000000 aabbcc")),
		want: []Message{
			{Type: TypeAbort, CSID: 2, Payload: hx("00000006")},
			{Type: TypeVideo, StreamID: 1, CSID: 6, Payload: hx("aabbcc")},
		},
	},
	{
		name: "abort on a three-byte chunk stream id",
		stream: cat(
			hx("01 00 01 000000 0000c8 09 01000000"), pv[:128],
			hx("02 000000 000004 02 00000000 00000140"),
			hx("c1 00 01"), pv[:128], hx("c1 00 01"), pv[128:]),
		want: []Message{
			{Type: TypeAbort, CSID: 2, Payload: hx("00000140")},
			{Type: TypeVideo, StreamID: 1, CSID: 320, Payload: pv},
		},
	},
	{
		name: "abort of an unknown chunk stream is harmless",
		stream: cat(
			hx("02 000000 000004 02 00000000 00000009"),
			hx("03 000000 000001 14 00000000 aa")),
		want: []Message{
			{Type: TypeAbort, CSID: 2, Payload: hx("00000009")},
			{Type: TypeCommandAMF0, CSID: 3, Payload: hx("aa")},
		},
	},
	{
		name: "zero-length messages, type 0 and type 3",
		stream: cat(
			hx("03 000007 000000 14 00000000"),
			hx("c3")),
		want: []Message{
			{Type: TypeCommandAMF0, Timestamp: 7, CSID: 3},
			{Type: TypeCommandAMF0, Timestamp: 14, CSID: 3},
		},
	},
	{
		name: "a new header mid-message drops the partial one",
		stream: cat(
			hx("06 000000 0000c8 09 01000000"), pv[:128],
			hx("46 000010 000002 09 aabb")),
		want: []Message{
			{Type: TypeVideo, StreamID: 1, Timestamp: 16, CSID: 6, Payload: hx("aabb")},
		},
	},
}

func TestChunkReaderVectors(t *testing.T) {
	for _, tc := range chunkVectors {
		t.Run(tc.name, func(t *testing.T) {
			cr := NewChunkReader(bytes.NewReader(tc.stream), DefaultLimits)
			got, err := readAll(cr)
			if err != io.EOF {
				t.Fatalf("ended with %v, want io.EOF", err)
			}
			checkMessages(t, got, tc.want)
			want := tc.wantChunkSize
			if want == 0 {
				want = DefaultChunkSize
			}
			if cr.ChunkSize() != want {
				t.Errorf("ChunkSize() = %d, want %d", cr.ChunkSize(), want)
			}
			if cr.BytesRead() != uint64(len(tc.stream)) {
				t.Errorf("BytesRead() = %d, want %d", cr.BytesRead(), len(tc.stream))
			}
		})
	}
}

func TestChunkAppendMessageVectors(t *testing.T) {
	tests := []struct {
		name      string
		m         Message
		chunkSize uint32
		want      []byte
	}{
		{
			name:      "300-byte video at 128",
			m:         Message{Type: TypeVideo, StreamID: 1, Timestamp: 1000, CSID: 6, Payload: p300},
			chunkSize: 128,
			want: cat(hx("06 0003e8 00012c 09 01000000"), p300[:128],
				hx("c6"), p300[128:256], hx("c6"), p300[256:]),
		},
		{
			name:      "extended timestamp repeated on every continuation",
			m:         Message{Type: TypeVideo, StreamID: 1, Timestamp: 0x01000000, CSID: 6, Payload: p300},
			chunkSize: 128,
			want: cat(hx("06 ffffff 00012c 09 01000000 01000000"), p300[:128],
				hx("c6 01000000"), p300[128:256], hx("c6 01000000"), p300[256:]),
		},
		{
			name:      "timestamp 0xFFFFFF is extended",
			m:         Message{Type: TypeAudio, StreamID: 0x04030201, Timestamp: 0xFFFFFF, CSID: 4, Payload: hx("aa")},
			chunkSize: 128,
			want:      hx("04 ffffff 000001 08 01020304 00ffffff aa"),
		},
		{
			name:      "timestamp 0xFFFFFE fits three bytes",
			m:         Message{Type: TypeAudio, Timestamp: 0xFFFFFE, CSID: 4, Payload: hx("aa")},
			chunkSize: 128,
			want:      hx("04 fffffe 000001 08 00000000 aa"),
		},
		{
			name: "zero length", m: Message{Type: TypeCommandAMF0, CSID: 3}, chunkSize: 128,
			want: hx("03 000000 000000 14 00000000"),
		},
		{
			name: "csid 64: two-byte header", m: Message{Type: TypeAudio, CSID: 64, Payload: pa[:3]}, chunkSize: 2,
			want: cat(hx("00 00 000000 000003 08 00000000"), pa[:2], hx("c0 00"), pa[2:3]),
		},
		{
			name: "csid 319: two-byte header", m: Message{Type: TypeAudio, CSID: 319, Payload: pa[:3]}, chunkSize: 2,
			want: cat(hx("00 ff 000000 000003 08 00000000"), pa[:2], hx("c0 ff"), pa[2:3]),
		},
		{
			name: "csid 320: three-byte header", m: Message{Type: TypeAudio, CSID: 320, Payload: pa[:3]}, chunkSize: 2,
			want: cat(hx("01 00 01 000000 000003 08 00000000"), pa[:2], hx("c1 00 01"), pa[2:3]),
		},
		{
			name: "csid 65599: three-byte header", m: Message{Type: TypeAudio, CSID: 65599, Payload: pa[:3]}, chunkSize: 2,
			want: cat(hx("01 ff ff 000000 000003 08 00000000"), pa[:2], hx("c1 ff ff"), pa[2:3]),
		},
		{
			name: "chunk size 0 means 128", m: Message{Type: TypeVideo, CSID: 6, Payload: pa[:129]}, chunkSize: 0,
			want: cat(hx("06 000000 000081 09 00000000"), pa[:128], hx("c6"), pa[128:129]),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("prefix")
			got := AppendMessage(append([]byte{}, prefix...), &tc.m, tc.chunkSize)
			if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], tc.want) {
				t.Fatalf("AppendMessage:\n got %x\nwant %x", got[len(prefix):], tc.want)
			}
			if n := ChunkedLen(&tc.m, tc.chunkSize); n != len(tc.want) {
				t.Errorf("ChunkedLen = %d, want %d", n, len(tc.want))
			}
		})
	}
}

func TestChunkAppendMessageRejectsUnencodable(t *testing.T) {
	tests := []struct {
		name string
		m    Message
	}{
		{"csid 0", Message{CSID: 0}},
		{"csid 1", Message{CSID: 1}},
		{"csid 65600", Message{CSID: 65600}},
		{"16 MiB payload", Message{CSID: 3, Payload: make([]byte, 1<<24)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			cw := NewChunkWriter(&buf)
			if err := cw.WriteMessage(&tc.m); err == nil {
				t.Errorf("WriteMessage accepted it")
			}
			if err := cw.Flush(); err != nil || buf.Len() != 0 {
				t.Errorf("Flush: %v, %d bytes written", err, buf.Len())
			}
			defer func() {
				if recover() == nil {
					t.Errorf("AppendMessage did not panic")
				}
			}()
			AppendMessage(nil, &tc.m, 128)
		})
	}
}

// TestChunkRoundTrip writes tables of messages with ChunkWriter and reads
// them back at every chunk size.
func TestChunkRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 127, 128, 129, 65537}
	stamps := []uint32{0, 0xFFFFFE, 0xFFFFFF, 0xFFFFFFFF}
	csids := []uint32{2, 3, 63, 64, 319, 320, 65599}
	for _, chunkSize := range []uint32{1, 128, 4096, 65536} {
		t.Run(fmt.Sprint("chunk size ", chunkSize), func(t *testing.T) {
			var buf bytes.Buffer
			cw := NewChunkWriter(&buf)
			if err := cw.SetChunkSize(chunkSize); err != nil {
				t.Fatal(err)
			}
			want := []Message{{Type: TypeSetChunkSize, CSID: CSIDControl, Payload: be32(chunkSize)}}
			i := 0
			for _, size := range sizes {
				for _, ts := range stamps {
					m := Message{
						Type:      TypeVideo,
						StreamID:  uint32(i * 7),
						Timestamp: ts,
						CSID:      csids[i%len(csids)],
						Payload:   pattern(size, byte(i)),
					}
					i++
					if err := cw.WriteMessage(&m); err != nil {
						t.Fatal(err)
					}
					if n, err := appendRoundTrip(&m, chunkSize); err != nil {
						t.Fatalf("%s: AppendMessage alone: %v", describe(m), err)
					} else if n != ChunkedLen(&m, chunkSize) {
						t.Fatalf("%s: %d bytes, ChunkedLen %d", describe(m), n, ChunkedLen(&m, chunkSize))
					}
					want = append(want, m)
				}
			}
			if err := cw.Flush(); err != nil {
				t.Fatal(err)
			}
			cr := NewChunkReader(&buf, DefaultLimits)
			total := uint64(buf.Len())
			got, err := readAll(cr)
			if err != io.EOF {
				t.Fatalf("ended with %v, want io.EOF", err)
			}
			checkMessages(t, got, want)
			if cr.BytesRead() != total {
				t.Errorf("BytesRead() = %d, want %d", cr.BytesRead(), total)
			}
		})
	}
}

// appendRoundTrip checks that one AppendMessage output is self-contained:
// a fresh reader told the chunk size decodes it alone.
func appendRoundTrip(m *Message, chunkSize uint32) (int, error) {
	b := AppendMessage(nil, m, chunkSize)
	cr := NewChunkReader(bytes.NewReader(b), DefaultLimits)
	cr.chunkSize = chunkSize
	got, err := cr.ReadMessage()
	if err != nil {
		return len(b), err
	}
	if !sameMessage(*got, *m) {
		return len(b), fmt.Errorf("read back %s", describe(*got))
	}
	if _, err := cr.ReadMessage(); err != io.EOF {
		return len(b), fmt.Errorf("trailing: %v", err)
	}
	return len(b), nil
}

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func TestChunkReaderProtocolErrors(t *testing.T) {
	small := Limits{MaxChunkSize: 4096, MaxMessageSize: 1000, MaxChunkStreams: 2}
	tests := []struct {
		name     string
		stream   []byte
		wantMsgs int // messages returned before the error
		reason   string
	}{
		{"set chunk size 0", hx("02 000000 000004 01 00000000 00000000"), 0, "chunk_size"},
		{"set chunk size top bit", hx("02 000000 000004 01 00000000 80000100"), 0, "chunk_size"},
		{"set chunk size over limit", hx("02 000000 000004 01 00000000 00001001"), 0, "chunk_size"},
		{"message over limit, type 0", hx("06 000000 0003e9 09 01000000"), 0, "message_size"},
		{"message over limit, type 1", hx("06 000000 000001 09 01000000 aa 46 000000 0003e9 09"), 1, "message_size"},
		{"message over limit, extended timestamp", hx("06 ffffff 0003e9 09 01000000 01000000"), 0, "message_size"},
		{"type 1 without previous header", hx("44 000000 000001 08 aa"), 0, "no_previous_header"},
		{"type 2 without previous header", hx("84 000000 aa"), 0, "no_previous_header"},
		{"type 3 without previous header", hx("c4 aa"), 0, "no_previous_header"},
		{"type 3 on a new 2-byte csid", hx("03 000000 000000 14 00000000 c0 05"), 1, "no_previous_header"},
		{"too many chunk streams", hx("03 000000 000000 14 00000000 04 000000 000000 08 00000000 05 000000 000000 12 00000000"), 2, "too_many_chunk_streams"},
		{"too many chunk streams, 3-byte csid", hx("03 000000 000000 14 00000000 04 000000 000000 08 00000000 01 00 01 000000 000000 12 00000000"), 2, "too_many_chunk_streams"},
		{"set chunk size payload short", hx("02 000000 000003 01 00000000 000001"), 0, "bad_control"},
		{"abort payload short", hx("02 000000 000002 02 00000000 0001"), 0, "bad_control"},
		{"abort payload empty", hx("02 000000 000000 02 00000000"), 0, "bad_control"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cr := NewChunkReader(bytes.NewReader(tc.stream), small)
			got, err := readAll(cr)
			if len(got) != tc.wantMsgs {
				t.Errorf("%d messages before the error, want %d", len(got), tc.wantMsgs)
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T), want *ProtocolError", err, err)
			}
			if pe.Reason != tc.reason {
				t.Errorf("reason %q (%v), want %q", pe.Reason, err, tc.reason)
			}
			if _, again := cr.ReadMessage(); again != err {
				t.Errorf("next call returned %v, want the same error", again)
			}
		})
	}
}

func TestChunkReaderEOF(t *testing.T) {
	tests := []struct {
		name     string
		stream   []byte
		wantMsgs int
		want     error
	}{
		{"empty", nil, 0, io.EOF},
		{"after a message", hx("03 000000 000001 14 00000000 aa"), 1, io.EOF},
		{"after an aborted partial message", cat(hx("06 000000 0000c8 09 01000000"), pv[:128], hx("02 000000 000004 02 00000000 00000006")), 1, io.EOF},
		{"in a 2-byte basic header", hx("00"), 0, io.ErrUnexpectedEOF},
		{"in a 3-byte basic header", hx("01 ff"), 0, io.ErrUnexpectedEOF},
		{"in a message header", hx("03 000000 0000"), 0, io.ErrUnexpectedEOF},
		{"in an extended timestamp", hx("03 ffffff 000001 14 00000000 0100"), 0, io.ErrUnexpectedEOF},
		{"in a payload", hx("03 000000 000004 14 00000000 aabb"), 0, io.ErrUnexpectedEOF},
		{"between chunks of a message", cat(hx("06 000000 0000c8 09 01000000"), pv[:128]), 0, io.ErrUnexpectedEOF},
		{"partial message on another csid", cat(hx("06 000000 0000c8 09 01000000"), pv[:128], hx("03 000000 000001 14 00000000 aa")), 1, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cr := NewChunkReader(bytes.NewReader(tc.stream), DefaultLimits)
			got, err := readAll(cr)
			if len(got) != tc.wantMsgs {
				t.Errorf("%d messages, want %d", len(got), tc.wantMsgs)
			}
			if !errors.Is(err, tc.want) || (tc.want == io.EOF && err != io.EOF) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if _, err2 := cr.ReadMessage(); !errors.Is(err2, tc.want) {
				t.Errorf("next call returned %v, want %v", err2, tc.want)
			}
		})
	}
}

// timeoutError is what a net.Conn returns when its read deadline passes.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// scriptedReader returns its steps one per Read: data, then err if any.
type scriptedReader struct {
	steps []step
}

type step struct {
	data []byte
	err  error
}

func (s *scriptedReader) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	st := &s.steps[0]
	if len(st.data) > 0 {
		n := copy(p, st.data)
		st.data = st.data[n:]
		return n, nil
	}
	s.steps = s.steps[1:]
	if st.err == nil {
		return s.Read(p)
	}
	return 0, st.err
}

func TestChunkReaderTimeouts(t *testing.T) {
	msg := hx("03 000000 000003 14 00000000 aabbcc")
	t.Run("idle between chunks: passes through and the reader goes on", func(t *testing.T) {
		r := &scriptedReader{steps: []step{{err: timeoutError{}}, {data: msg}}}
		cr := NewChunkReader(r, DefaultLimits)
		_, err := cr.ReadMessage()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || err != (timeoutError{}) {
			t.Fatalf("error %v (%T), want the timeout unchanged", err, err)
		}
		m, err := cr.ReadMessage()
		if err != nil || !bytes.Equal(m.Payload, hx("aabbcc")) {
			t.Fatalf("after the timeout: %v, %v", m, err)
		}
	})
	t.Run("mid-chunk: passes through and sticks", func(t *testing.T) {
		r := &scriptedReader{steps: []step{{data: msg[:5]}, {err: timeoutError{}}, {data: msg[5:]}}}
		cr := NewChunkReader(r, DefaultLimits)
		_, err := cr.ReadMessage()
		if err != (timeoutError{}) {
			t.Fatalf("error %v (%T), want the timeout unchanged", err, err)
		}
		if _, err := cr.ReadMessage(); err != (timeoutError{}) {
			t.Fatalf("second call: %v, want the same timeout", err)
		}
	})
}

// TestChunkReaderTruncation cuts valid streams at every byte: the reader
// must return the messages before the cut and then io.EOF or
// io.ErrUnexpectedEOF, never panic.
func TestChunkReaderTruncation(t *testing.T) {
	var streams [][]byte
	var wants [][]Message
	for _, tc := range chunkVectors {
		streams = append(streams, tc.stream)
		wants = append(wants, tc.want)
	}
	for si, stream := range streams {
		for cut := 0; cut <= len(stream); cut++ {
			cr := NewChunkReader(bytes.NewReader(stream[:cut]), DefaultLimits)
			got, err := readAll(cr)
			if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("stream %d cut at %d: %v", si, cut, err)
			}
			if cut == len(stream) && (err != io.EOF || len(got) != len(wants[si])) {
				t.Fatalf("stream %d whole: %d messages, %v", si, len(got), err)
			}
			if len(got) > len(wants[si]) {
				t.Fatalf("stream %d cut at %d: %d messages, more than %d", si, cut, len(got), len(wants[si]))
			}
			for i := range got {
				if !sameMessage(got[i], wants[si][i]) {
					t.Fatalf("stream %d cut at %d: message %d is %s", si, cut, i, describe(got[i]))
				}
			}
		}
	}
}

// TestChunkReaderMemory checks that announcing a large message costs memory
// only as its bytes arrive, and that buffers are reused.
func TestChunkReaderMemory(t *testing.T) {
	t.Run("16 MiB announced, 10 bytes sent", func(t *testing.T) {
		stream := cat(hx("06 000000 ffffff 09 01000000"), pattern(10, 0))
		cr := NewChunkReader(bytes.NewReader(stream), DefaultLimits)
		if _, err := cr.ReadMessage(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("error %v, want unexpected EOF", err)
		}
		if c := cap(cr.low[6].buf); c > initialMessageBuffer {
			t.Errorf("buffer capacity %d after 10 bytes, want <= %d", c, initialMessageBuffer)
		}
	})
	t.Run("1 MiB chunks, 16 MiB announced, 200 KiB sent", func(t *testing.T) {
		const sent = 200 << 10
		stream := cat(hx("02 000000 000004 01 00000000 00100000"),
			hx("06 000000 ffffff 09 01000000"), pattern(sent, 0))
		cr := NewChunkReader(bytes.NewReader(stream), DefaultLimits)
		if _, err := cr.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		if _, err := cr.ReadMessage(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("error %v, want unexpected EOF", err)
		}
		if c := cap(cr.low[6].buf); c > 2*sent+initialMessageBuffer {
			t.Errorf("buffer capacity %d after %d bytes", c, sent)
		}
	})
	t.Run("buffer reused across messages", func(t *testing.T) {
		m := Message{Type: TypeVideo, StreamID: 1, CSID: 6, Payload: pattern(100<<10, 1)}
		stream := AppendMessage(nil, &m, 128)
		stream = AppendMessage(stream, &m, 128)
		cr := NewChunkReader(bytes.NewReader(stream), DefaultLimits)
		first, err := cr.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		p := &first.Payload[0]
		second, err := cr.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if &second.Payload[0] != p {
			t.Errorf("second message got a new buffer")
		}
		if !bytes.Equal(second.Payload, m.Payload) {
			t.Errorf("second payload differs")
		}
	})
}

// loopReader serves data over and over, without allocating.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

// steadyStream is a mix that starts with type 0 headers, so it can loop:
// deltas, extended timestamps on continuations, interleaving.
func steadyStream() []byte {
	return cat(chunkVectors[1].stream, chunkVectors[3].stream, chunkVectors[5].stream, chunkVectors[4].stream)
}

func TestChunkReaderAllocs(t *testing.T) {
	cr := NewChunkReader(&loopReader{data: steadyStream()}, DefaultLimits)
	read := func() {
		if _, err := cr.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		read()
	}
	if n := testing.AllocsPerRun(1000, read); n != 0 {
		t.Errorf("%v allocations per ReadMessage, want 0", n)
	}
}

func TestChunkWriterAllocs(t *testing.T) {
	m := Message{Type: TypeVideo, StreamID: 1, Timestamp: 0x01020304, CSID: 320, Payload: pattern(5000, 0)}
	dst := make([]byte, 0, 2*ChunkedLen(&m, 128))
	if n := testing.AllocsPerRun(100, func() { dst = AppendMessage(dst[:0], &m, 128) }); n != 0 {
		t.Errorf("%v allocations per AppendMessage, want 0", n)
	}
	cw := NewChunkWriter(io.Discard)
	write := func() {
		_ = cw.WriteMessage(&m)
		_ = cw.WriteAck(1)
		_ = cw.WriteUserControl(UserStreamBegin, 1)
		_ = cw.WriteUserControl(UserSetBufferLength, 1, 3000)
		_ = cw.WriteSetPeerBandwidth(2500000, PeerBandwidthDynamic)
		if err := cw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write()
	if n := testing.AllocsPerRun(100, write); n != 0 {
		t.Errorf("%v allocations per ChunkWriter round, want 0", n)
	}
}

// shortWriter accepts at most n bytes per call and reports no error, which
// breaks the io.Writer contract the way buggy writers do.
type shortWriter struct{ n int }

func (s shortWriter) Write(p []byte) (int, error) { return min(len(p), s.n), nil }

type failWriter struct{}

var errWrite = errors.New("write failed")

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestChunkWriterErrors(t *testing.T) {
	m := Message{Type: TypeAudio, CSID: 4, Payload: []byte{1, 2, 3}}
	tests := []struct {
		name string
		w    io.Writer
		want error
	}{
		{"short write", shortWriter{n: 3}, io.ErrShortWrite},
		{"write error", failWriter{}, errWrite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cw := NewChunkWriter(tc.w)
			if err := cw.WriteMessage(&m); err != nil {
				t.Fatalf("buffered write failed: %v", err)
			}
			if err := cw.Flush(); err != tc.want {
				t.Fatalf("Flush: %v, want %v", err, tc.want)
			}
			if err := cw.WriteMessage(&m); err != tc.want {
				t.Errorf("after failure WriteMessage: %v, want sticky %v", err, tc.want)
			}
			if err := cw.Flush(); err != tc.want {
				t.Errorf("after failure Flush: %v, want sticky %v", err, tc.want)
			}
		})
	}
}

func TestChunkWriterAutoFlush(t *testing.T) {
	var buf bytes.Buffer
	cw := NewChunkWriter(&buf)
	m := Message{Type: TypeVideo, CSID: 6, Payload: pattern(1000, 0)}
	for buf.Len() == 0 && len(cw.buf) < 10*writeFlushThreshold {
		if err := cw.WriteMessage(&m); err != nil {
			t.Fatal(err)
		}
	}
	if buf.Len() < writeFlushThreshold || len(cw.buf) != 0 {
		t.Errorf("wrote %d bytes with %d buffered; want a flush at %d", buf.Len(), len(cw.buf), writeFlushThreshold)
	}
}

func TestChunkWriterSetChunkSize(t *testing.T) {
	var buf bytes.Buffer
	cw := NewChunkWriter(&buf)
	for _, bad := range []uint32{0, 0x80000000, 0xFFFFFFFF} {
		if err := cw.SetChunkSize(bad); err == nil {
			t.Errorf("SetChunkSize(%#x) accepted", bad)
		}
	}
	if cw.ChunkSize() != DefaultChunkSize {
		t.Fatalf("ChunkSize() = %d after rejected sizes", cw.ChunkSize())
	}
	if err := cw.SetChunkSize(4096); err != nil {
		t.Fatal(err)
	}
	m := Message{Type: TypeVideo, StreamID: 1, CSID: 6, Payload: p300}
	if err := cw.WriteMessage(&m); err != nil {
		t.Fatal(err)
	}
	if err := cw.Flush(); err != nil {
		t.Fatal(err)
	}
	want := cat(hx("02 000000 000004 01 00000000 00001000"), hx("06 000000 00012c 09 01000000"), p300)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("wrote\n%x\nwant\n%x", buf.Bytes(), want)
	}
	if cw.ChunkSize() != 4096 {
		t.Errorf("ChunkSize() = %d, want 4096", cw.ChunkSize())
	}
}

// TestChunkWriterRelease: a writer whose buffers were released (a player's
// session after its connection was handed off) still writes, at the chunk
// size it announced, not the default.
func TestChunkWriterRelease(t *testing.T) {
	var buf bytes.Buffer
	cw := NewChunkWriter(&buf)
	if err := cw.SetChunkSize(4096); err != nil {
		t.Fatal(err)
	}
	if err := cw.Flush(); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	cw.release()
	if cw.buf != nil || cw.ctl != nil {
		t.Fatalf("release kept %d + %d bytes of buffer", cap(cw.buf), cap(cw.ctl))
	}
	m := Message{Type: TypeVideo, StreamID: 1, CSID: 6, Payload: p300}
	if err := cw.WriteMessage(&m); err != nil {
		t.Fatal(err)
	}
	if err := cw.WriteUserControl(UserStreamEOF, 1); err != nil {
		t.Fatal(err)
	}
	if err := cw.Flush(); err != nil {
		t.Fatal(err)
	}
	want := cat(hx("06 000000 00012c 09 01000000"), p300, hx("02 000000 000006 04 00000000 0001 00000001"))
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("wrote\n%x\nwant\n%x", buf.Bytes(), want)
	}
}

func benchmarkStream(payload, chunkSize int) []byte {
	var stream []byte
	for i := range 16 {
		m := Message{Type: TypeVideo, StreamID: 1, Timestamp: uint32(i * 40), CSID: 6, Payload: pattern(payload, byte(i))}
		stream = AppendMessage(stream, &m, uint32(chunkSize))
	}
	return stream
}

func BenchmarkReadMessage(b *testing.B) {
	for _, chunkSize := range []int{128, 4096} {
		b.Run(fmt.Sprintf("4KiB/chunk%d", chunkSize), func(b *testing.B) {
			stream := benchmarkStream(4096, chunkSize)
			cr := NewChunkReader(&loopReader{data: stream}, DefaultLimits)
			cr.chunkSize = uint32(chunkSize)
			b.SetBytes(int64(len(stream) / 16))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cr.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendMessage(b *testing.B) {
	for _, chunkSize := range []uint32{128, 4096} {
		b.Run(fmt.Sprintf("4KiB/chunk%d", chunkSize), func(b *testing.B) {
			m := Message{Type: TypeVideo, StreamID: 1, Timestamp: 40, CSID: 6, Payload: pattern(4096, 0)}
			dst := make([]byte, 0, ChunkedLen(&m, chunkSize))
			b.SetBytes(int64(len(m.Payload)))
			b.ReportAllocs()
			for b.Loop() {
				dst = AppendMessage(dst[:0], &m, chunkSize)
			}
		})
	}
}

func TestChunkReaderZeroLimitsMeanDefaults(t *testing.T) {
	cr := NewChunkReader(bytes.NewReader(nil), Limits{})
	if cr.lim != DefaultLimits {
		t.Errorf("limits %+v, want %+v", cr.lim, DefaultLimits)
	}
	cr = NewChunkReader(bytes.NewReader(nil), Limits{MaxChunkStreams: 3})
	if want := (Limits{DefaultLimits.MaxChunkSize, DefaultLimits.MaxMessageSize, 3}); cr.lim != want {
		t.Errorf("limits %+v, want %+v", cr.lim, want)
	}
}
