package websocket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// maskedFrame is a client frame: fin set, masked with key.
func maskedFrame(op byte, payload []byte, key [4]byte) []byte {
	b := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(n))
	}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i&3])
	}
	return b
}

func TestAcceptKey(t *testing.T) {
	// The example of RFC 6455 section 1.3.
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("AcceptKey = %q", got)
	}
}

func TestFrameHeader(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x82, 0}},
		{125, []byte{0x82, 125}},
		{126, []byte{0x82, 126, 0, 126}},
		{65535, []byte{0x82, 126, 0xff, 0xff}},
		{65536, []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		if got := AppendFrameHeader(nil, OpBinary, tc.n); !bytes.Equal(got, tc.want) {
			t.Errorf("n=%d: % x, want % x", tc.n, got, tc.want)
		}
	}
}

func TestParserControlFramesAnySplit(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	var in []byte
	in = append(in, maskedFrame(OpBinary, bytes.Repeat([]byte{7}, 300), key)...)
	in = append(in, maskedFrame(OpPing, []byte("hello"), key)...)
	in = append(in, maskedFrame(OpText, []byte("x"), key)...)
	in = append(in, maskedFrame(OpClose, []byte{0x03, 0xe8, 'b', 'y', 'e'}, key)...)
	for step := 1; step <= len(in); step++ {
		var p Parser
		var got []string
		for i := 0; i < len(in); i += step {
			err := p.Feed(in[i:min(i+step, len(in))], func(f Frame) error {
				got = append(got, string([]byte{'0' + f.Op})+string(f.Payload))
				return nil
			})
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		want := []string{"9hello", "8\x03\xe8bye"}
		if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("step %d: frames %q, want %q", step, got, want)
		}
	}
}

func TestParserRejects(t *testing.T) {
	key := [4]byte{9, 9, 9, 9}
	unmasked := AppendFrame(nil, OpPing, []byte("x"))
	longPing := maskedFrame(OpPing, bytes.Repeat([]byte{1}, 126), key)
	fragPing := maskedFrame(OpPing, nil, key)
	fragPing[0] &^= 0x80
	rsv := maskedFrame(OpBinary, nil, key)
	rsv[0] |= 0x40
	badOp := maskedFrame(0x3, nil, key)
	huge := maskedFrame(OpBinary, make([]byte, 70000), key)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"unmasked", unmasked, ErrUnmasked},
		{"long control", longPing, ErrControl},
		{"fragmented control", fragPing, ErrControl},
		{"reserved bit", rsv, ErrReserved},
		{"reserved opcode", badOp, ErrReserved},
		{"too big", huge, ErrTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Parser
			err := p.Feed(tc.in, func(Frame) error { return nil })
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if _, ok := IsProtocolError(err); !ok {
				t.Fatalf("%v is not a ProtocolError", err)
			}
		})
	}
}

// FuzzParser feeds arbitrary bytes in two pieces: the parser must never
// panic, every control frame it reports must be at most 125 bytes, and the
// split must not change what it reports.
func FuzzParser(f *testing.F) {
	key := [4]byte{1, 2, 3, 4}
	f.Add(maskedFrame(OpPing, []byte("hi"), key), 1)
	f.Add(append(maskedFrame(OpBinary, make([]byte, 200), key), maskedFrame(OpClose, []byte{3, 232}, key)...), 7)
	f.Add([]byte{0x89, 0xfe, 0, 1}, 2)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		run := func(parts ...[]byte) ([]string, error) {
			var p Parser
			var got []string
			for _, b := range parts {
				err := p.Feed(b, func(fr Frame) error {
					if len(fr.Payload) > 125 {
						t.Fatalf("control payload of %d bytes", len(fr.Payload))
					}
					got = append(got, string(append([]byte{fr.Op}, fr.Payload...)))
					return nil
				})
				if err != nil {
					return got, err
				}
			}
			return got, nil
		}
		whole, err1 := run(in)
		if cut < 0 {
			cut = -cut
		}
		cut %= len(in) + 1
		split, err2 := run(in[:cut], in[cut:])
		if (err1 == nil) != (err2 == nil) || len(whole) != len(split) {
			t.Fatalf("split at %d changed the result: %q/%v vs %q/%v", cut, whole, err1, split, err2)
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("frame %d differs", i)
			}
		}
	})
}
