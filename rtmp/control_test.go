package rtmp

import (
	"bytes"
	"errors"
	"testing"
)

func wantBadControl(t *testing.T, err error) {
	t.Helper()
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Reason != "bad_control" {
		t.Errorf("error %v, want reason bad_control", err)
	}
}

func TestControlParseUint32(t *testing.T) {
	tests := []struct {
		payload []byte
		want    uint32
		bad     bool
	}{
		{hx("00000080"), 128, false},
		{hx("7fffffff"), 0x7FFFFFFF, false},
		{hx("00001000 ff"), 4096, false},
		{hx("000010"), 0, true},
		{nil, 0, true},
	}
	for _, tc := range tests {
		got, err := ParseUint32(tc.payload)
		if tc.bad {
			wantBadControl(t, err)
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseUint32(%x) = %d, %v; want %d", tc.payload, got, err, tc.want)
		}
	}
}

func TestControlParseSetPeerBandwidth(t *testing.T) {
	tests := []struct {
		payload   []byte
		size      uint32
		limitType uint8
		bad       bool
	}{
		{hx("002625a0 02"), 2500000, PeerBandwidthDynamic, false},
		{hx("00001000 00"), 4096, PeerBandwidthHard, false},
		{hx("002625a0"), 0, 0, true},
		{nil, 0, 0, true},
	}
	for _, tc := range tests {
		size, lt, err := ParseSetPeerBandwidth(tc.payload)
		if tc.bad {
			wantBadControl(t, err)
			continue
		}
		if err != nil || size != tc.size || lt != tc.limitType {
			t.Errorf("ParseSetPeerBandwidth(%x) = %d, %d, %v; want %d, %d", tc.payload, size, lt, err, tc.size, tc.limitType)
		}
	}
}

func TestControlParseUserControl(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		event   uint16
		a, b    uint32
		bad     bool
	}{
		{"stream begin", hx("0000 00000001"), UserStreamBegin, 1, 0, false},
		{"stream eof", hx("0001 00000002"), UserStreamEOF, 2, 0, false},
		{"stream dry", hx("0002 00000003"), UserStreamDry, 3, 0, false},
		{"set buffer length", hx("0003 00000001 00000bb8"), UserSetBufferLength, 1, 3000, false},
		{"stream is recorded", hx("0004 00000001"), UserStreamIsRecorded, 1, 0, false},
		{"ping request", hx("0006 12345678"), UserPingRequest, 0x12345678, 0, false},
		{"ping response", hx("0007 12345678"), UserPingResponse, 0x12345678, 0, false},
		{"unknown event, no data", hx("0063"), 99, 0, 0, false},
		{"buffer empty", hx("001f 00000001"), UserBufferEmpty, 1, 0, false},
		{"empty", nil, 0, 0, 0, true},
		{"one byte", hx("00"), 0, 0, 0, true},
		{"stream begin short", hx("0000 000001"), 0, 0, 0, true},
		{"set buffer length short", hx("0003 00000001"), 0, 0, 0, true},
		{"ping short", hx("0006"), 0, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			event, a, b, err := ParseUserControl(tc.payload)
			if tc.bad {
				wantBadControl(t, err)
				return
			}
			if err != nil || event != tc.event || a != tc.a || b != tc.b {
				t.Errorf("got %d, %d, %d, %v; want %d, %d, %d", event, a, b, err, tc.event, tc.a, tc.b)
			}
		})
	}
}

// TestChunkWriterControl checks the exact bytes of every control message
// the writer sends and that the parsers read them back.
func TestChunkWriterControl(t *testing.T) {
	tests := []struct {
		name  string
		write func(*ChunkWriter) error
		want  []byte
	}{
		{"window ack size", func(cw *ChunkWriter) error { return cw.WriteWindowAckSize(2500000) },
			hx("02 000000 000004 05 00000000 002625a0")},
		{"set peer bandwidth", func(cw *ChunkWriter) error { return cw.WriteSetPeerBandwidth(2500000, PeerBandwidthDynamic) },
			hx("02 000000 000005 06 00000000 002625a0 02")},
		{"ack", func(cw *ChunkWriter) error { return cw.WriteAck(0x01020304) },
			hx("02 000000 000004 03 00000000 01020304")},
		{"stream begin", func(cw *ChunkWriter) error { return cw.WriteUserControl(UserStreamBegin, 1) },
			hx("02 000000 000006 04 00000000 0000 00000001")},
		{"set buffer length", func(cw *ChunkWriter) error { return cw.WriteUserControl(UserSetBufferLength, 1, 3000) },
			hx("02 000000 00000a 04 00000000 0003 00000001 00000bb8")},
		{"ping response", func(cw *ChunkWriter) error { return cw.WriteUserControl(UserPingResponse, 0xCAFEBABE) },
			hx("02 000000 000006 04 00000000 0007 cafebabe")},
		{"set chunk size", func(cw *ChunkWriter) error { return cw.SetChunkSize(60000) },
			hx("02 000000 000004 01 00000000 0000ea60")},
		{"user control with many arguments grows its buffer", func(cw *ChunkWriter) error {
			return cw.WriteUserControl(99, 1, 2, 3, 4, 5)
		}, hx("02 000000 000016 04 00000000 0063 00000001 00000002 00000003 00000004 00000005")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			cw := NewChunkWriter(&buf)
			if err := tc.write(cw); err != nil {
				t.Fatal(err)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote before Flush")
			}
			if err := cw.Flush(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), tc.want) {
				t.Fatalf("wrote %x, want %x", buf.Bytes(), tc.want)
			}
			m, err := NewChunkReader(&buf, DefaultLimits).ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if m.CSID != CSIDControl || m.StreamID != 0 || m.Timestamp != 0 {
				t.Errorf("read back %s, want csid 2, stream 0, timestamp 0", describe(*m))
			}
		})
	}
}

func FuzzParseControl(f *testing.F) {
	f.Add([]byte{})
	f.Add(hx("0003 00000001 00000bb8"))
	f.Add(hx("002625a0 02"))
	f.Fuzz(func(t *testing.T, p []byte) {
		if v, err := ParseUint32(p); (err == nil) != (len(p) >= 4) || (err != nil && v != 0) {
			t.Fatalf("ParseUint32(%x) = %d, %v", p, v, err)
		}
		if _, _, err := ParseSetPeerBandwidth(p); (err == nil) != (len(p) >= 5) {
			t.Fatalf("ParseSetPeerBandwidth(%x): %v", p, err)
		}
		event, a, b, err := ParseUserControl(p)
		if err != nil {
			return
		}
		var w bytes.Buffer
		cw := NewChunkWriter(&w)
		// What parsed re-encodes to a prefix of the input.
		args := []uint32{a, b}[:min(2, (len(p)-2)/4)]
		if err := cw.WriteUserControl(event, args...); err != nil {
			t.Fatal(err)
		}
		if err := cw.Flush(); err != nil {
			t.Fatal(err)
		}
		m, err := NewChunkReader(&w, DefaultLimits).ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(p, m.Payload) {
			t.Fatalf("re-encoded %x, not a prefix of %x", m.Payload, p)
		}
	})
}
