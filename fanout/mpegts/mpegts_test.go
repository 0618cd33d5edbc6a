package mpegts

import (
	"bytes"
	"testing"
)

// packets splits b into TS packets, checking size and sync bytes.
func packets(t *testing.T, b []byte) [][]byte {
	t.Helper()
	if len(b)%packetSize != 0 {
		t.Fatalf("%d bytes: not whole packets", len(b))
	}
	var out [][]byte
	for ; len(b) > 0; b = b[packetSize:] {
		if b[0] != 0x47 {
			t.Fatalf("sync byte %#x", b[0])
		}
		out = append(out, b[:packetSize])
	}
	return out
}

// payloadOf returns a packet's PID and payload, skipping its adaptation
// field.
func payloadOf(p []byte) (pid uint16, start bool, cc byte, payload []byte) {
	pid = uint16(p[1]&0x1f)<<8 | uint16(p[2])
	off := 4
	if p[3]&0x20 != 0 {
		off += 1 + int(p[4])
	}
	return pid, p[1]&0x40 != 0, p[3] & 0x0f, p[off:]
}

func TestTablesCRC(t *testing.T) {
	w := NewWriter(true, true)
	w.WriteTables()
	ps := packets(t, w.Buf)
	if len(ps) != 2 {
		t.Fatalf("%d packets for PAT+PMT", len(ps))
	}
	for _, p := range ps {
		_, _, _, pl := payloadOf(p)
		sec := pl[1:] // pointer field
		n := int(sec[1]&0x0f)<<8 | int(sec[2])
		// The CRC over a section including its CRC is 0.
		if crc32MPEG(sec[:3+n]) != 0 {
			t.Fatalf("section %x: bad CRC", sec[:3+n])
		}
	}
	// The PMT lists H.264 on 0x100 and AAC on 0x101.
	_, _, _, pmt := payloadOf(ps[1])
	if !bytes.Contains(pmt, []byte{typeH264, 0xe1, 0x00}) || !bytes.Contains(pmt, []byte{typeAAC, 0xe1, 0x01}) {
		t.Fatalf("PMT %x", pmt)
	}
}

// TestPESSplitsIntoPackets: any payload size becomes whole packets whose
// payloads put the PES back together, with continuity counters counting.
func TestPESSplitsIntoPackets(t *testing.T) {
	for size := 1; size < 800; size += 7 {
		w := NewWriter(true, true)
		frame := bytes.Repeat([]byte{0xab}, size)
		if err := w.WriteAudio(1000, frame, []byte{0x12, 0x10}); err != nil {
			t.Fatal(err)
		}
		var pes []byte
		for i, p := range packets(t, w.Buf) {
			pid, start, cc, pl := payloadOf(p)
			if pid != pidAudio || start != (i == 0) || int(cc) != i%16 {
				t.Fatalf("size %d packet %d: pid %#x start %v cc %d", size, i, pid, start, cc)
			}
			pes = append(pes, pl...)
		}
		hdrLen := 9 + int(pes[8])
		if !bytes.Equal(pes[:4], []byte{0, 0, 1, streamAudio}) || len(pes) != hdrLen+7+size ||
			!bytes.Equal(pes[hdrLen+7:], frame) || pes[hdrLen] != 0xff {
			t.Fatalf("size %d: PES %x…", size, pes[:min(len(pes), 24)])
		}
		// PTS of 1000 ms at 90 kHz.
		b := pes[9:14]
		pts := int64(b[0]>>1&7)<<30 | int64(b[1])<<22 | int64(b[2]>>1)<<15 | int64(b[3])<<7 | int64(b[4]>>1)
		if pts != 90000 {
			t.Fatalf("PTS %d, want 90000", pts)
		}
	}
}

func TestVideoAnnexB(t *testing.T) {
	w := NewWriter(true, false)
	sample := []byte{0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x06}
	if err := w.WriteVideo(40, 80, true, sample, 4, [][]byte{{0x67, 1}, {0x68, 2}}); err != nil {
		t.Fatal(err)
	}
	ps := packets(t, w.Buf)
	if ps[0][3]&0x20 == 0 || ps[0][5]&0x50 != 0x50 {
		t.Fatal("a keyframe's first packet has no PCR and random access flag")
	}
	_, _, _, pl := payloadOf(ps[0])
	want := []byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 0x88, 0, 0, 0, 1, 0x06}
	if !bytes.HasSuffix(pl, want) || pl[7] != 0xc0 {
		t.Fatalf("PES %x, want PTS+DTS and %x", pl, want)
	}
	if err := w.WriteVideo(0, 0, false, []byte{0, 0, 0, 9, 1}, 4, nil); err == nil {
		t.Fatal("a truncated NAL unit was accepted")
	}
}
