package rtmp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"
)

// chunkOutcome is everything a chunk decoder makes of a stream, in a form
// that a pull-mode reader and a push-mode parser can be compared on.
type chunkOutcome struct {
	msgs      []Message
	reason    string // Reason of the ProtocolError that ended it, if any
	partial   bool   // the stream ended inside a chunk header or a message
	bytesRead uint64
	chunkSize uint32
}

func (o chunkOutcome) String() string {
	return fmt.Sprintf("%d messages, reason %q, partial %v, %d bytes read, chunk size %d",
		len(o.msgs), o.reason, o.partial, o.bytesRead, o.chunkSize)
}

// readerOutcome reads a whole stream with a ChunkReader.
func readerOutcome(stream []byte, lim Limits) (chunkOutcome, error) {
	cr := NewChunkReader(bytes.NewReader(stream), lim)
	msgs, err := readAll(cr)
	o := chunkOutcome{msgs: msgs, bytesRead: cr.BytesRead(), chunkSize: cr.ChunkSize()}
	var pe *ProtocolError
	switch {
	case errors.As(err, &pe):
		o.reason = pe.Reason
	case err == io.ErrUnexpectedEOF:
		o.partial = true
	case err != io.EOF:
		return o, err
	}
	return o, nil
}

// parserOutcome feeds stream to a ChunkParser in pieces of the given
// lengths (the last piece takes the rest). Each piece goes through one
// scratch buffer that is scribbled over after every Feed, as a provided
// buffer is recycled, so a parser that kept a reference to it shows.
func parserOutcome(stream []byte, lim Limits, sizes []int) (chunkOutcome, *ChunkParser, error) {
	p := NewChunkParser(lim)
	var o chunkOutcome
	collect := func(m *Message) error {
		c := *m
		c.Payload = append([]byte{}, m.Payload...)
		o.msgs = append(o.msgs, c)
		return nil
	}
	scratch := make([]byte, len(stream))
	var err error
	for i, rest := 0, stream; len(rest) > 0 && err == nil; i++ {
		n := len(rest)
		if i < len(sizes) {
			n = min(sizes[i], n)
		}
		piece := scratch[:copy(scratch, rest[:n])]
		rest = rest[n:]
		err = p.Feed(piece, collect)
		for j := range piece {
			piece[j] = 0xEE
		}
	}
	o.bytesRead, o.chunkSize = p.BytesRead(), p.ChunkSize()
	var pe *ProtocolError
	switch {
	case errors.As(err, &pe):
		o.reason = pe.Reason
	case err != nil:
		return o, p, err
	default:
		o.partial = parserPartial(p)
	}
	return o, p, nil
}

// parserPartial is what makes a ChunkReader report io.ErrUnexpectedEOF.
func parserPartial(p *ChunkParser) bool {
	return p.hdrLen > 0 || p.cur != nil || p.partial()
}

// compareOutcomes reports how a parser's outcome differs from a reader's.
func compareOutcomes(got, want chunkOutcome) error {
	if len(got.msgs) != len(want.msgs) {
		return fmt.Errorf("parser: %v; reader: %v", got, want)
	}
	for i := range want.msgs {
		if !sameMessage(got.msgs[i], want.msgs[i]) {
			return fmt.Errorf("message %d: parser %s, reader %s", i, describe(got.msgs[i]), describe(want.msgs[i]))
		}
	}
	got.msgs, want.msgs = nil, nil
	if got.String() != want.String() {
		return fmt.Errorf("parser: %v; reader: %v", got, want)
	}
	return nil
}

// splits are ways to cut a stream into Feeds, as piece lengths.
var splits = []struct {
	name  string
	sizes func(n int) []int
}{
	{"whole", func(int) []int { return nil }},
	{"every byte", func(n int) []int { return repeatSize(1, n) }},
	{"7-byte pieces", func(n int) []int { return repeatSize(7, n) }},
	{"random pieces, seed 1", func(n int) []int { return randomSizes(1, n) }},
	{"random pieces, seed 2", func(n int) []int { return randomSizes(2, n) }},
}

func repeatSize(size, n int) []int {
	out := make([]int, n/size+1)
	for i := range out {
		out[i] = size
	}
	return out
}

// randomSizes mixes single bytes, header-sized and large pieces.
func randomSizes(seed uint64, n int) []int {
	r := rand.New(rand.NewPCG(seed, 0))
	var out []int
	for total := 0; total < n; {
		size := 1 + r.IntN([]int{3, 20, 300, 5000}[r.IntN(4)])
		out = append(out, size)
		total += size
	}
	return out
}

func TestChunkParserVectors(t *testing.T) {
	for _, tc := range chunkVectors {
		for _, sp := range splits {
			t.Run(tc.name+"/"+sp.name, func(t *testing.T) {
				got, p, err := parserOutcome(tc.stream, DefaultLimits, sp.sizes(len(tc.stream)))
				if err != nil {
					t.Fatal(err)
				}
				checkMessages(t, got.msgs, tc.want)
				want := tc.wantChunkSize
				if want == 0 {
					want = DefaultChunkSize
				}
				if got.chunkSize != want || got.bytesRead != uint64(len(tc.stream)) || got.reason != "" || got.partial {
					t.Errorf("%v; want chunk size %d, %d bytes read, no error, nothing partial", got, want, len(tc.stream))
				}
				if p.Buffered() != 0 {
					t.Errorf("Buffered() = %d after whole messages", p.Buffered())
				}
			})
		}
	}
}

// parserErrorStreams break the protocol in ways the parser must see at the
// same byte as the reader, wherever the Feeds are cut.
var parserErrorStreams = []struct {
	name   string
	stream []byte
	reason string
}{
	{"chunk size zero after a message", hx("03 000000 000001 14 00000000 aa 02 000000 000004 01 00000000 00000000"), "chunk_size"},
	{"chunk size over the limit", hx("02 000000 000004 01 00000000 00002000"), "chunk_size"},
	{"message size in a type 0 with extended timestamp", hx("06 ffffff 0003e9 09 01000000 01020304"), "message_size"},
	{"message size in a type 1", hx("06 000000 000001 09 01000000 aa 46 000000 0003e9 09 bbbb"), "message_size"},
	{"type 3 on a 3-byte csid never seen", hx("c1 00 01 aa"), "no_previous_header"},
	{"type 2 on a 2-byte csid never seen", hx("80 05 000001"), "no_previous_header"},
	{"a fourth chunk stream", hx("03 000000 000000 14 00000000 04 000000 000000 08 00000000 05 000000 000000 09 00000000 06 000000"), "too_many_chunk_streams"},
	{"abort payload short", hx("02 000000 000003 02 00000000 000006"), "bad_control"},
	{"new chunk size applies within the same piece", cat(hx("02 000000 000004 01 00000000 00000010"),
		hx("06 000000 000020 09 01000000"), pa[:16], hx("c7")), "no_previous_header"},
}

var parserErrorLimits = Limits{MaxChunkSize: 4096, MaxMessageSize: 1000, MaxChunkStreams: 3}

func TestChunkParserProtocolErrors(t *testing.T) {
	errFn := errors.New("must not be called")
	for _, tc := range parserErrorStreams {
		for _, sp := range splits {
			t.Run(tc.name+"/"+sp.name, func(t *testing.T) {
				got, p, err := parserOutcome(tc.stream, parserErrorLimits, sp.sizes(len(tc.stream)))
				if err != nil {
					t.Fatal(err)
				}
				if got.reason != tc.reason {
					t.Fatalf("%v; want reason %q", got, tc.reason)
				}
				want, err := readerOutcome(tc.stream, parserErrorLimits)
				if err != nil {
					t.Fatal(err)
				}
				if err := compareOutcomes(got, want); err != nil {
					t.Error(err)
				}
				first := p.Feed(nil, nil)
				again := p.Feed(hx("03 000000 000000 14 00000000"), func(*Message) error { return errFn })
				if !errors.As(first, new(*ProtocolError)) || again != first {
					t.Errorf("later Feeds returned %v and %v, want the same *ProtocolError", first, again)
				}
			})
		}
	}
}

// TestChunkParserMatchesReader cuts every vector and error stream at every
// byte and checks that the parser, fed in every split, makes of the prefix
// exactly what the reader makes of it.
func TestChunkParserMatchesReader(t *testing.T) {
	type stream struct {
		data []byte
		lim  Limits
	}
	var streams []stream
	for _, tc := range chunkVectors {
		streams = append(streams, stream{tc.stream, DefaultLimits})
	}
	for _, tc := range parserErrorStreams {
		streams = append(streams, stream{tc.stream, parserErrorLimits})
	}
	streams = append(streams, stream{steadyStream(), DefaultLimits})
	for si, s := range streams {
		for cut := 0; cut <= len(s.data); cut++ {
			prefix := s.data[:cut]
			want, err := readerOutcome(prefix, s.lim)
			if err != nil {
				t.Fatalf("stream %d cut at %d: reader: %v", si, cut, err)
			}
			for _, sp := range splits {
				got, _, err := parserOutcome(prefix, s.lim, sp.sizes(cut))
				if err == nil {
					err = compareOutcomes(got, want)
				}
				if err != nil {
					t.Fatalf("stream %d cut at %d, %s: %v", si, cut, sp.name, err)
				}
			}
		}
	}
}

func TestChunkParserCallbackError(t *testing.T) {
	first := hx("03 000000 000001 14 00000000 aa")
	stream := cat(first, hx("03 000000 000002 14 00000000 bbcc 03 000000 000001 14 00000000 dd"))
	errStop := errors.New("stop")
	p := NewChunkParser(DefaultLimits)
	var got []string
	fn := func(m *Message) error {
		got = append(got, fmt.Sprintf("%x", m.Payload))
		if len(got) == 2 {
			return errStop
		}
		return nil
	}
	if err := p.Feed(stream, fn); err != errStop {
		t.Fatalf("Feed returned %v, want the callback's error", err)
	}
	if fmt.Sprint(got) != "[aa bbcc]" {
		t.Errorf("messages %v, want [aa bbcc]", got)
	}
	if want := uint64(2*len(first) + 1); p.BytesRead() != want {
		t.Errorf("BytesRead() = %d, want %d (up to the message whose callback failed)", p.BytesRead(), want)
	}
	if err := p.Feed(stream, fn); err != errStop || len(got) != 2 {
		t.Errorf("next Feed: %v with %d messages, want the same error and no message", err, len(got))
	}
}

func TestChunkParserBuffered(t *testing.T) {
	header := hx("06 000000 0000c8 09 01000000")
	steps := []struct {
		name string
		feed []byte
		want int
	}{
		{"half a basic header", hx("01 00"), 2},
		{"rest of a 3-byte basic header", hx("01"), 3},
		{"a whole header of another chunk stream, after the first", cat(hx("000000 000000 14 00000000"), header[:5]), 5},
		{"the rest of the header", header[5:], 0},
		{"part of the payload", pv[:100], 100},
		{"the rest of the first chunk", pv[100:128], 128},
		{"a type 3 header", hx("c6"), 128},
		{"the last payload byte", pv[128:], 0},
	}
	p := NewChunkParser(DefaultLimits)
	msgs := 0
	for _, st := range steps {
		err := p.Feed(st.feed, func(*Message) error { msgs++; return nil })
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if p.Buffered() != st.want {
			t.Errorf("%s: Buffered() = %d, want %d", st.name, p.Buffered(), st.want)
		}
	}
	if msgs != 2 {
		t.Errorf("%d messages, want 2", msgs)
	}
}

// heapPerParser is the heap that each of n parsers, set up by prepare,
// keeps alive.
func heapPerParser(n int, prepare func(*ChunkParser)) float64 {
	parsers := make([]*ChunkParser, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range parsers {
		parsers[i] = NewChunkParser(DefaultLimits)
		prepare(parsers[i])
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(parsers)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// playerInput is what a player sends once it plays: acknowledgements, a
// buffer length, and at the end closeStream and deleteStream.
func playerInput(t *testing.T) []byte {
	var out []byte
	for i := range uint32(3) {
		out = AppendMessage(out, &Message{Type: TypeAck, CSID: CSIDControl, Payload: be32(2500000 * (i + 1))}, 0)
	}
	out = AppendMessage(out, &Message{Type: TypeUserControl, CSID: CSIDControl, Payload: hx("0003 00000001 00000bb8")}, 0)
	for _, name := range []string{"closeStream", "deleteStream"} {
		cmd, err := AppendAMF0(nil, name, 0, nil, 1)
		if err != nil {
			t.Fatal(err)
		}
		out = AppendMessage(out, &Message{Type: TypeCommandAMF0, StreamID: 1, CSID: CSIDCommand, Payload: cmd}, 0)
	}
	return out
}

func TestChunkParserMemory(t *testing.T) {
	ignore := func(*Message) error { return nil }
	size := unsafe.Sizeof(ChunkParser{})
	idle := heapPerParser(10000, func(*ChunkParser) {})
	input := playerInput(t)
	player := heapPerParser(10000, func(p *ChunkParser) {
		if err := p.Feed(input, ignore); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("ChunkParser: unsafe.Sizeof %d B; heap %.0f B idle, %.0f B after a player's %d bytes of acks, user control and commands",
		size, idle, player, len(input))
	if size > 256 || idle > 512 || player > 1024 {
		t.Errorf("Sizeof %d, idle %.0f, player %.0f bytes: want <= 256, 512 and 1024", size, idle, player)
	}

	t.Run("a large message's buffer is let go after delivery", func(t *testing.T) {
		p := NewChunkParser(DefaultLimits)
		big := AppendMessage(nil, &Message{Type: TypeVideo, StreamID: 1, CSID: 6, Payload: pattern(200<<10, 3)}, 0)
		if err := p.Feed(big[:len(big)-1], ignore); err != nil {
			t.Fatal(err)
		}
		if c := cap(p.low[6].buf); c < 200<<10-1 {
			t.Fatalf("buffer capacity %d holding a partial 200 KiB message", c)
		}
		if err := p.Feed(big[len(big)-1:], ignore); err != nil {
			t.Fatal(err)
		}
		if c := cap(p.low[6].buf); c != 0 || p.msg.Payload != nil {
			t.Errorf("buffer capacity %d (message payload %d bytes) kept after delivery", c, len(p.msg.Payload))
		}
	})
	t.Run("16 MiB announced, 10 bytes sent", func(t *testing.T) {
		p := NewChunkParser(DefaultLimits)
		if err := p.Feed(cat(hx("06 000000 ffffff 09 01000000"), pattern(10, 0)), ignore); err != nil {
			t.Fatal(err)
		}
		if c := cap(p.low[6].buf); c > initialMessageBuffer || p.Buffered() != 10 {
			t.Errorf("buffer capacity %d, Buffered() %d after 10 bytes", c, p.Buffered())
		}
	})
}

// publisherStream is n 4 KiB video messages at chunkSize, after the Set
// Chunk Size that announces it; it can be fed over and over.
func publisherStream(n int, chunkSize uint32) []byte {
	out := AppendMessage(nil, &Message{Type: TypeSetChunkSize, CSID: CSIDControl, Payload: be32(chunkSize)}, 0)
	for i := range n {
		m := Message{Type: TypeVideo, StreamID: 1, Timestamp: uint32(i * 40), CSID: CSIDVideo, Payload: pattern(4096, byte(i))}
		out = AppendMessage(out, &m, chunkSize)
	}
	return out
}

func TestChunkParserAllocs(t *testing.T) {
	streams := []struct {
		name string
		data []byte
	}{
		{"4 KiB video at chunk size 4096", publisherStream(16, 4096)},
		{"4 KiB video at chunk size 128", publisherStream(16, 128)},
		{"mixed headers, extended timestamps, interleaving", steadyStream()},
	}
	for _, s := range streams {
		for _, sp := range splits {
			t.Run(s.name+"/"+sp.name, func(t *testing.T) {
				sizes := sp.sizes(len(s.data))
				p := NewChunkParser(DefaultLimits)
				msgs := 0
				count := func(*Message) error { msgs++; return nil }
				feed := func() {
					rest := s.data
					for i := 0; len(rest) > 0; i++ {
						n := len(rest)
						if i < len(sizes) {
							n = min(sizes[i], n)
						}
						if err := p.Feed(rest[:n], count); err != nil {
							t.Fatal(err)
						}
						rest = rest[n:]
					}
				}
				feed()
				perPass := msgs
				if n := testing.AllocsPerRun(20, feed); n != 0 {
					t.Errorf("%v allocations per pass of %d bytes", n, len(s.data))
				}
				// AllocsPerRun adds a warm-up run.
				if perPass == 0 || msgs != 22*perPass {
					t.Errorf("%d messages after 22 passes of %d", msgs, perPass)
				}
			})
		}
	}
}

func TestChunkParserZeroLimitsMeanDefaults(t *testing.T) {
	if p := NewChunkParser(Limits{}); p.lim != DefaultLimits || p.ChunkSize() != DefaultChunkSize {
		t.Errorf("limits %+v, chunk size %d; want %+v, %d", p.lim, p.ChunkSize(), DefaultLimits, DefaultChunkSize)
	}
	want := Limits{MaxChunkSize: 100, MaxMessageSize: DefaultLimits.MaxMessageSize, MaxChunkStreams: DefaultLimits.MaxChunkStreams}
	if p := NewChunkParser(Limits{MaxChunkSize: 100}); p.lim != want {
		t.Errorf("limits %+v, want %+v", p.lim, want)
	}
}

// BenchmarkChunkParserFeed is BenchmarkReadMessage's stream fed in 64 KiB
// pieces, as multishot receive completions bring it.
func BenchmarkChunkParserFeed(b *testing.B) {
	const feed = 64 << 10
	for _, chunkSize := range []int{128, 4096} {
		b.Run(fmt.Sprintf("4KiB/chunk%d", chunkSize), func(b *testing.B) {
			stream := benchmarkStream(4096, chunkSize)
			// Repeated so that any window of feed bytes starting within the
			// first copy is contiguous.
			data := bytes.Repeat(stream, feed/len(stream)+2)
			p := NewChunkParser(DefaultLimits)
			p.chunkSize = uint32(chunkSize)
			msgs := 0
			count := func(*Message) error { msgs++; return nil }
			off := 0
			b.SetBytes(feed)
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Feed(data[off:off+feed], count); err != nil {
					b.Fatal(err)
				}
				off = (off + feed) % len(stream)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(msgs), "ns/msg")
		})
	}
}
