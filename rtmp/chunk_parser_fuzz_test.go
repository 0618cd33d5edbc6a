package rtmp

import "testing"

// FuzzChunkParserSplits feeds arbitrary bytes to a ChunkParser in arbitrary
// pieces (cuts gives their lengths, cycling) and checks that it makes of
// them exactly what a ChunkReader makes of the whole: the same messages,
// the same protocol error or the same kind of end, the same bytes read and
// chunk size, within the same memory bounds.
func FuzzChunkParserSplits(f *testing.F) {
	for _, tc := range chunkVectors {
		f.Add(tc.stream, []byte{0})
		f.Add(tc.stream, []byte{6, 0, 130, 2})
	}
	for _, tc := range parserErrorStreams {
		f.Add(tc.stream, []byte{2, 11})
	}
	f.Add(steadyStream(), []byte{255, 17, 0, 3})
	f.Add(hx("02 000000 000004 01 00000000 00000001 03 000000 000003 14 00000000 aa c3 bb c3 cc"), []byte{})
	lim := Limits{MaxChunkSize: 4096, MaxMessageSize: 1 << 16, MaxChunkStreams: 4}
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		var sizes []int
		for total := 0; len(cuts) > 0 && total < len(data); {
			sizes = append(sizes, 1+int(cuts[len(sizes)%len(cuts)]))
			total += sizes[len(sizes)-1]
		}
		want, err := readerOutcome(data, lim)
		if err != nil {
			t.Fatalf("reader: %v", err)
		}
		got, p, err := parserOutcome(data, lim, sizes)
		if err != nil {
			t.Fatalf("parser: %v", err)
		}
		if err := compareOutcomes(got, want); err != nil {
			t.Fatalf("pieces %v: %v", sizes, err)
		}
		if p.Buffered() > len(data) || int(p.hdrLen) >= maxChunkHeaderLen {
			t.Fatalf("Buffered() = %d (header %d) from %d bytes", p.Buffered(), p.hdrLen, len(data))
		}
		if p.streams > lim.MaxChunkStreams {
			t.Fatalf("%d chunk streams, limit %d", p.streams, lim.MaxChunkStreams)
		}
		if held := bufferCapacity(&p.chunkCore); held > 2*len(data)+lim.MaxChunkStreams*initialMessageBuffer {
			t.Fatalf("%d bytes of buffers from %d bytes of input", held, len(data))
		}
	})
}

// bufferCapacity is the memory held in message buffers.
func bufferCapacity(c *chunkCore) int {
	n := 0
	for _, cs := range c.low {
		if cs != nil {
			n += cap(cs.buf)
		}
	}
	for _, cs := range c.high {
		n += cap(cs.buf)
	}
	return n
}
