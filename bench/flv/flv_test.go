package flv

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func encode(t testing.TB, tags []Tag) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, FlagAudio|FlagVideo)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tags {
		if err := w.WriteTag(&tags[i]); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	tags := []Tag{
		{Type: TagScript, Data: []byte{2, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a'}},
		{Type: TagVideo, Timestamp: 0, Data: []byte{0x17, 0, 0, 0, 0, 1, 2, 3}},
		{Type: TagAudio, Timestamp: 23, Data: []byte{0xaf, 1, 9}},
		{Type: TagVideo, Timestamp: 0x01020304, Data: bytes.Repeat([]byte{7}, 100000)},
		{Type: TagAudio, Timestamp: 0xffffffff, Data: nil},
	}
	r, err := NewReader(bytes.NewReader(encode(t, tags)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Flags() != FlagAudio|FlagVideo {
		t.Errorf("flags %x", r.Flags())
	}
	for i, want := range tags {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("tag %d: %v", i, err)
		}
		if got.Type != want.Type || got.Timestamp != want.Timestamp || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("tag %d: got type %d ts %d %d bytes, want type %d ts %d %d bytes",
				i, got.Type, got.Timestamp, len(got.Data), want.Type, want.Timestamp, len(want.Data))
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after last tag: %v, want io.EOF", err)
	}
}

func TestReaderErrors(t *testing.T) {
	good := encode(t, []Tag{{Type: TagVideo, Data: []byte{0x17, 1, 0, 0, 0, 5}}})
	tests := []struct {
		name    string
		in      []byte
		header  string // error substring from NewReader, or ""
		nextErr error  // error Next must match
	}{
		{"empty", nil, "not an FLV file", nil},
		{"not flv", []byte("GIF89a..........."), "not an FLV file", nil},
		{"version", append([]byte("FLV\x02"), good[4:]...), "version 2", nil},
		{"huge header offset", []byte("FLV\x01\x05\xff\xff\xff\xff\x00\x00\x00\x00"), "header size", nil},
		{"cut in tag header", good[:13+5], "", io.ErrUnexpectedEOF},
		{"cut in body", good[:13+11+3], "", io.ErrUnexpectedEOF},
		{"no final size", good[:len(good)-4], "", nil},
		{"cut final size", good[:len(good)-2], "", io.ErrUnexpectedEOF},
		{"huge size short file", append(append([]byte(nil), good[:13]...), 9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 2), "", io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tt.in))
			if tt.header != "" {
				if err == nil || !strings.Contains(err.Error(), tt.header) {
					t.Fatalf("NewReader: %v, want %q", err, tt.header)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Next()
			if tt.nextErr == nil {
				if err != nil {
					t.Fatalf("Next: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.nextErr) {
				t.Fatalf("Next: %v, want %v", err, tt.nextErr)
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	f.Add(encode(f, []Tag{{Type: TagVideo, Timestamp: 40, Data: []byte{0x17, 1, 0, 0, 0}}, {Type: TagAudio, Data: []byte{0xaf, 0, 0x12, 0x10}}}))
	f.Add([]byte("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x09\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := NewReader(bytes.NewReader(in))
		if err != nil {
			return
		}
		for range 1000 {
			tag, err := r.Next()
			if err != nil {
				return
			}
			if len(tag.Data) > len(in) {
				t.Fatalf("tag of %d bytes from %d bytes of input", len(tag.Data), len(in))
			}
		}
	})
}
