package flv

import (
	"bytes"
	"encoding/binary"
	"testing"

	benchflv "github.com/bbllive/bbllive/bench/flv"
	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/websocket"
)

// capture is an Appender that keeps what it is given.
type capture struct {
	buf    []byte
	starts []bool
}

func (c *capture) Append(rec []byte, start bool, _ uint32) {
	c.buf = append(c.buf, rec...)
	c.starts = append(c.starts, start)
}

var headers = fanout.Headers{Meta: []byte("\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09"),
	VideoSeq: []byte{0x17, 0, 0, 0, 0, 1}, AudioSeq: []byte{0xaf, 0, 0x12, 0x10}}

// TestHTTPFLVReadsAsAFile: join prefix and tags, as an HTTP-FLV player
// gets them, are an FLV file another reader (the bench's) accepts, with the
// timestamps' extension byte and the flags right.
func TestHTTPFLVReadsAsAFile(t *testing.T) {
	enc := HTTP.NewEncoder()
	var c capture
	c.buf = enc.AppendJoin(nil, &headers, 0x01020304, true)
	enc.Encode(&c, &fanout.Frame{Type: TagVideo, Timestamp: 0x01020304, Payload: []byte{0x17, 1, 0, 0, 0, 9}, Key: true})
	enc.Encode(&c, &fanout.Frame{Type: TagAudio, Timestamp: 0x01020310, Payload: []byte{0xaf, 1, 5}})
	fr, err := benchflv.NewReader(bytes.NewReader(c.buf))
	if err != nil {
		t.Fatal(err)
	}
	if fr.Flags() != FlagAudio|FlagVideo {
		t.Errorf("flags %#x", fr.Flags())
	}
	want := []struct {
		typ uint8
		ts  uint32
		n   int
	}{{TagScript, 0, len(headers.Meta)}, {TagVideo, 0x01020304, 6}, {TagAudio, 0x01020304, 4},
		{TagVideo, 0x01020304, 6}, {TagAudio, 0x01020310, 3}}
	for i, w := range want {
		tag, err := fr.Next()
		if err != nil {
			t.Fatalf("tag %d: %v", i, err)
		}
		if tag.Type != w.typ || tag.Timestamp != w.ts || len(tag.Data) != w.n {
			t.Errorf("tag %d: type %d ts %#x %d bytes, want %d %#x %d", i, tag.Type, tag.Timestamp, len(tag.Data), w.typ, w.ts, w.n)
		}
	}
	if len(c.starts) != 2 || !c.starts[0] || c.starts[1] {
		t.Errorf("start marks %v, want the keyframe's only", c.starts)
	}
	if rejoin := enc.AppendJoin(nil, &headers, 0, false); bytes.HasPrefix(rejoin, []byte("FLV")) {
		t.Error("a rejoin repeats the file header")
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		h    fanout.Headers
		want uint8
	}{
		{fanout.Headers{}, 0},
		{fanout.Headers{VideoSeq: []byte{1}}, FlagVideo},
		{fanout.Headers{AudioSeq: []byte{1}}, FlagAudio},
		{fanout.Headers{Meta: []byte("..audiocodecid..videocodecid")}, FlagAudio | FlagVideo},
	} {
		if got := Flags(&tc.h); got != tc.want {
			t.Errorf("Flags(%+v) = %#x, want %#x", tc.h, got, tc.want)
		}
	}
}

// TestWebSocketFramesEachRecord: every record and the join prefix are one
// unmasked binary frame whose payload is the HTTP-FLV bytes.
func TestWebSocketFramesEachRecord(t *testing.T) {
	plain, ws := HTTP.NewEncoder(), WebSocket.NewEncoder()
	big := make([]byte, 70000) // a 64-bit length
	big[0] = 0x27
	var pc, wc capture
	pc.buf = plain.AppendJoin(nil, &headers, 0, true)
	wc.buf = ws.AppendJoin(nil, &headers, 0, true)
	for _, p := range [][]byte{{0x17, 1}, bytes.Repeat([]byte{0x27}, 300), big} {
		f := fanout.Frame{Type: TagVideo, Payload: p}
		plain.Encode(&pc, &f)
		ws.Encode(&wc, &f)
	}
	var unframed []byte
	frames := 0
	for b := wc.buf; len(b) > 0; frames++ {
		if b[0] != 0x80|websocket.OpBinary || b[1]&0x80 != 0 {
			t.Fatalf("frame %d: header % x", frames, b[:2])
		}
		n, h := int(b[1]), 2
		switch n {
		case 126:
			n, h = int(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			n, h = int(binary.BigEndian.Uint64(b[2:])), 10
		}
		unframed = append(unframed, b[h:h+n]...)
		b = b[h+n:]
	}
	if frames != 4 || !bytes.Equal(unframed, pc.buf) {
		t.Fatalf("%d frames; payloads equal to HTTP-FLV: %v", frames, bytes.Equal(unframed, pc.buf))
	}
}

type discard struct{}

func (discard) Append([]byte, bool, uint32) {}

// BenchmarkEncode: a tag is serialized with no allocation.
func BenchmarkEncode(b *testing.B) {
	for _, f := range []Format{HTTP, WebSocket} {
		b.Run(f.Name(), func(b *testing.B) {
			enc := f.NewEncoder()
			fr := &fanout.Frame{Type: TagVideo, Payload: make([]byte, 4096)}
			enc.Encode(discard{}, fr)
			b.ReportAllocs()
			b.SetBytes(4096)
			for range b.N {
				enc.Encode(discard{}, fr)
			}
		})
	}
}
