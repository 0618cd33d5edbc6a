// Package flv reads and writes FLV files: the header, the tags and the
// previous-tag-size fields between them. It is what the publisher emulator
// needs to replay a file and what tests need to hand a stream to ffprobe;
// it does not look inside tag bodies.
package flv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Tag types, equal to the RTMP message types of the same media.
const (
	TagAudio  uint8 = 8
	TagVideo  uint8 = 9
	TagScript uint8 = 18
)

// Header flags.
const (
	FlagAudio uint8 = 4
	FlagVideo uint8 = 1
)

// MaxTagSize bounds a tag body: the 24-bit size field allows 16 MiB.
const MaxTagSize = 1<<24 - 1

const (
	headerSize    = 9
	tagHeaderSize = 11
)

// Tag is one FLV tag. Timestamp is in milliseconds, the 24-bit field and its
// extension byte combined.
type Tag struct {
	Type      uint8
	Timestamp uint32
	StreamID  uint32 // always 0 in valid files; kept as read
	Data      []byte
}

// ErrNotFLV is returned by NewReader when the input does not start with an
// FLV header.
var ErrNotFLV = errors.New("flv: not an FLV file")

// Reader reads tags from an FLV stream.
type Reader struct {
	r     *bufio.Reader
	flags uint8
	hdr   [tagHeaderSize + 4]byte
	buf   []byte
	off   int64 // bytes consumed, for error messages
}

// NewReader reads the file header (and the first previous-tag-size field).
func NewReader(r io.Reader) (*Reader, error) {
	fr := &Reader{r: bufio.NewReaderSize(r, 64<<10)}
	var h [headerSize]byte
	if _, err := io.ReadFull(fr.r, h[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotFLV, noEOF(err))
	}
	if h[0] != 'F' || h[1] != 'L' || h[2] != 'V' {
		return nil, ErrNotFLV
	}
	if h[3] != 1 {
		return nil, fmt.Errorf("flv: version %d, want 1", h[3])
	}
	dataOffset := binary.BigEndian.Uint32(h[5:])
	if dataOffset < headerSize || dataOffset > 1<<20 {
		return nil, fmt.Errorf("flv: header size %d out of range", dataOffset)
	}
	if _, err := fr.r.Discard(int(dataOffset - headerSize)); err != nil {
		return nil, fmt.Errorf("flv: header: %w", noEOF(err))
	}
	var pts [4]byte
	if _, err := io.ReadFull(fr.r, pts[:]); err != nil {
		return nil, fmt.Errorf("flv: header: %w", noEOF(err))
	}
	fr.flags = h[4]
	fr.off = int64(dataOffset) + 4
	return fr, nil
}

// Flags are the header's audio and video flags (FlagAudio, FlagVideo).
func (fr *Reader) Flags() uint8 { return fr.flags }

// Next returns the next tag. Its Data is valid until the next call. At the
// end of the file it returns io.EOF; a file cut inside a tag gives
// io.ErrUnexpectedEOF.
func (fr *Reader) Next() (*Tag, error) {
	h := fr.hdr[:tagHeaderSize]
	n, err := io.ReadFull(fr.r, h)
	if err != nil {
		if n == 0 && err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("flv: tag header at %d: %w", fr.off, noEOF(err))
	}
	typ := h[0] & 0x1f // bits 5-7: reserved and the encryption filter flag
	if h[0]&0x20 != 0 {
		return nil, fmt.Errorf("flv: tag at %d is encrypted", fr.off)
	}
	size := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	ts := uint32(h[7])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6])
	sid := uint32(h[8])<<16 | uint32(h[9])<<8 | uint32(h[10])
	data, err := fr.readBody(size)
	if err != nil {
		return nil, fmt.Errorf("flv: tag body at %d (%d bytes): %w", fr.off, size, err)
	}
	var pts [4]byte
	if _, err := io.ReadFull(fr.r, pts[:]); err != nil && err != io.EOF {
		// A missing final previous-tag-size is common in cut files;
		// a partial one is not.
		return nil, fmt.Errorf("flv: previous tag size at %d: %w", fr.off+int64(tagHeaderSize+size), noEOF(err))
	}
	fr.off += int64(tagHeaderSize + size + 4)
	return &Tag{Type: typ, Timestamp: ts, StreamID: sid, Data: data}, nil
}

// readBody reads a tag body of size bytes into the reused buffer, growing
// it only as bytes arrive, so that a size field promising 16 MiB in a short
// file costs about as much memory as the bytes present.
func (fr *Reader) readBody(size int) ([]byte, error) {
	data := fr.buf[:0]
	for len(data) < size {
		if len(data) == cap(data) {
			nb := make([]byte, len(data), min(size, max(2*cap(data), 64<<10)))
			copy(nb, data)
			data = nb
		}
		at := len(data)
		k := min(size, cap(data)) - at
		data = data[:at+k]
		if _, err := io.ReadFull(fr.r, data[at:]); err != nil {
			return nil, noEOF(err)
		}
	}
	fr.buf = data[:0]
	return data, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Writer writes an FLV stream.
type Writer struct {
	w   io.Writer
	hdr [tagHeaderSize]byte
}

// NewWriter writes the file header with the given flags (FlagAudio,
// FlagVideo) and the first previous-tag-size.
func NewWriter(w io.Writer, flags uint8) (*Writer, error) {
	h := []byte{'F', 'L', 'V', 1, flags, 0, 0, 0, headerSize, 0, 0, 0, 0}
	if _, err := w.Write(h); err != nil {
		return nil, err
	}
	return &Writer{w: w}, nil
}

// WriteTag writes one tag and its previous-tag-size.
func (fw *Writer) WriteTag(t *Tag) error {
	if len(t.Data) > MaxTagSize {
		return fmt.Errorf("flv: tag of %d bytes exceeds %d", len(t.Data), MaxTagSize)
	}
	h := fw.hdr[:]
	n := len(t.Data)
	h[0] = t.Type
	h[1], h[2], h[3] = byte(n>>16), byte(n>>8), byte(n)
	h[4], h[5], h[6], h[7] = byte(t.Timestamp>>16), byte(t.Timestamp>>8), byte(t.Timestamp), byte(t.Timestamp>>24)
	h[8], h[9], h[10] = 0, 0, 0
	if _, err := fw.w.Write(h); err != nil {
		return err
	}
	if _, err := fw.w.Write(t.Data); err != nil {
		return err
	}
	var pts [4]byte
	binary.BigEndian.PutUint32(pts[:], uint32(tagHeaderSize+n))
	_, err := fw.w.Write(pts[:])
	return err
}
