package rtmp

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzChunkReader feeds arbitrary bytes to a reader with small limits: it
// must not panic, must end in a clean error, and must hold no more than the
// limits and the input size allow.
func FuzzChunkReader(f *testing.F) {
	for _, tc := range chunkVectors {
		f.Add(tc.stream)
	}
	f.Add(hx("02 000000 000004 01 00000000 00000001 03 000000 000003 14 00000000 aa c3 bb c3 cc"))
	f.Add(hx("06 000000 ffffff 09 01000000 aabbcc"))
	f.Add(hx("02 000000 000004 01 00000000 7fffffff"))
	lim := Limits{MaxChunkSize: 4096, MaxMessageSize: 1 << 16, MaxChunkStreams: 4}
	f.Fuzz(func(t *testing.T, data []byte) {
		cr := NewChunkReader(bytes.NewReader(data), lim)
		var err error
		// Every call consumes at least one byte, so this ends.
		for calls := 0; ; calls++ {
			if calls > len(data) {
				t.Fatalf("%d messages from %d bytes", calls, len(data))
			}
			var m *Message
			m, err = cr.ReadMessage()
			if err != nil {
				break
			}
			if len(m.Payload) > int(lim.MaxMessageSize) {
				t.Fatalf("message of %d bytes, limit %d", len(m.Payload), lim.MaxMessageSize)
			}
			if m.CSID < 2 || m.CSID > maxCSID {
				t.Fatalf("csid %d", m.CSID)
			}
		}
		var pe *ProtocolError
		if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &pe) {
			t.Fatalf("unexpected error %v (%T)", err, err)
		}
		if cs := cr.ChunkSize(); cs == 0 || cs > lim.MaxChunkSize {
			t.Fatalf("chunk size %d, limit %d", cs, lim.MaxChunkSize)
		}
		if cr.BytesRead() > uint64(len(data)) {
			t.Fatalf("BytesRead %d of %d", cr.BytesRead(), len(data))
		}
		if cr.streams > lim.MaxChunkStreams {
			t.Fatalf("%d chunk streams, limit %d", cr.streams, lim.MaxChunkStreams)
		}
		if held := bufferCapacity(&cr.chunkCore); held > 2*len(data)+lim.MaxChunkStreams*initialMessageBuffer {
			t.Fatalf("%d bytes of buffers from %d bytes of input", held, len(data))
		}
	})
}

// FuzzChunkRoundTrip checks that whatever AppendMessage writes, a fresh
// reader reads back unchanged.
func FuzzChunkRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint32(0), uint32(3), uint32(128), uint32(1), uint8(TypeCommandAMF0))
	f.Add(p300, uint32(0xFFFFFF), uint32(320), uint32(1), uint32(0), uint8(TypeVideo))
	f.Add([]byte{}, uint32(0xFFFFFFFF), uint32(65599), uint32(0), uint32(7), uint8(TypeAudio))
	f.Fuzz(func(t *testing.T, payload []byte, ts, csid, chunkSize, streamID uint32, typeID uint8) {
		csid = 2 + csid%(maxCSID-1)
		chunkSize = 1 + chunkSize%(1<<20)
		if typeID == TypeSetChunkSize || typeID == TypeAbort {
			typeID = TypeVideo // the reader applies these; covered by FuzzChunkReader
		}
		m := Message{Type: typeID, StreamID: streamID, Timestamp: ts, CSID: csid, Payload: payload}
		n, err := appendRoundTrip(&m, chunkSize)
		if err != nil {
			t.Fatalf("%s at chunk size %d: %v", describe(m), chunkSize, err)
		}
		if n != ChunkedLen(&m, chunkSize) {
			t.Fatalf("%d bytes, ChunkedLen %d", n, ChunkedLen(&m, chunkSize))
		}
	})
}
