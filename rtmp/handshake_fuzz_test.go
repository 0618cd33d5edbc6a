package rtmp

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzServerHandshake feeds arbitrary C0+C1+C2 bytes to the server side. It
// must never panic, must fail exactly when the input is short or C0 is not 3,
// and must never consume more than C0+C1+C2.
func FuzzServerHandshake(f *testing.F) {
	f.Add(hsClientScript(f, true))
	f.Add(hsClientScript(f, false))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte{0x16, 3, 1})
	f.Add([]byte{3})
	f.Add([]byte{})
	c1, pos := hsFixedC1(772)
	copy(c1[pos:], hsHex(f, hsVecDigestAt772))
	f.Add(hsConcat([]byte{3}, c1, make([]byte, handshakeSize)))

	const total = 1 + 2*handshakeSize
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var out bytes.Buffer
		rw := struct {
			io.Reader
			io.Writer
		}{r, &out}
		_, err := serverHandshake(rw)
		var pe *ProtocolError
		switch {
		case len(data) > 0 && data[0] != rtmpVersion:
			if !errors.As(err, &pe) || pe.Reason != "handshake_version" {
				t.Fatalf("C0 %#x: err = %v, want handshake_version", data[0], err)
			}
		case len(data) < total:
			if !errors.As(err, &pe) || pe.Reason != "handshake_io" {
				t.Fatalf("%d bytes: err = %v, want handshake_io", len(data), err)
			}
		default:
			if err != nil {
				t.Fatalf("complete input: %v", err)
			}
			if consumed := len(data) - r.Len(); consumed != total {
				t.Fatalf("consumed %d bytes, want exactly %d", consumed, total)
			}
			if out.Len() != total {
				t.Fatalf("wrote %d bytes, want %d", out.Len(), total)
			}
		}
	})
}
