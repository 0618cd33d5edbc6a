// Package mpegts writes MPEG-2 transport stream (ISO/IEC 13818-1) of one
// H.264 and/or AAC program, for HLS players that predate fragmented MP4.
// It takes frames as fanout/fmp4 parses them from FLV payloads: AVC
// samples with length-prefixed NAL units, raw AAC frames.
package mpegts

import (
	"encoding/binary"
	"errors"
)

// PIDs and stream types of the one program written.
const (
	pidPAT      = 0x0000
	pidPMT      = 0x1000
	pidVideo    = 0x0100
	pidAudio    = 0x0101
	typeH264    = 0x1b
	typeAAC     = 0x0f // ADTS
	packetSize  = 188
	clock       = 90 // 90 kHz ticks per millisecond
	streamVideo = 0xe0
	streamAudio = 0xc0
)

// Writer appends TS packets to Buf. It keeps the continuity counters, so
// one Writer serves one stream from start to end.
type Writer struct {
	Buf      []byte
	hasVideo bool
	hasAudio bool
	cc       map[uint16]byte
}

// NewWriter returns a writer of a program with the given elementary
// streams.
func NewWriter(video, audio bool) *Writer {
	return &Writer{hasVideo: video, hasAudio: audio, cc: map[uint16]byte{}}
}

// WriteTables appends a PAT and a PMT, which every segment and part
// starts with so that each can be decoded on its own.
func (w *Writer) WriteTables() {
	pat := []byte{0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xe0 | pidPMT>>8, pidPMT & 0xff}
	w.section(pidPAT, 0x00, pat)
	pcr := uint16(pidVideo)
	if !w.hasVideo {
		pcr = pidAudio
	}
	pmt := []byte{0x00, 0x01, 0xc1, 0x00, 0x00, 0xe0 | byte(pcr>>8), byte(pcr), 0xf0, 0x00}
	if w.hasVideo {
		pmt = append(pmt, typeH264, 0xe0|pidVideo>>8, pidVideo&0xff, 0xf0, 0x00)
	}
	if w.hasAudio {
		pmt = append(pmt, typeAAC, 0xe0|pidAudio>>8, pidAudio&0xff, 0xf0, 0x00)
	}
	w.section(pidPMT, 0x02, pmt)
}

// section writes a PSI table in one packet: table id, the syntax
// section of body, and its CRC.
func (w *Writer) section(pid uint16, table byte, body []byte) {
	n := len(body) + 4 // + CRC
	sec := append([]byte{table, 0xb0 | byte(n>>8), byte(n)}, body...)
	sec = binary.BigEndian.AppendUint32(sec, crc32MPEG(sec))
	p := w.header(pid, true, false)
	p = append(p, 0) // pointer field
	p = append(p, sec...)
	for len(p) < packetSize {
		p = append(p, 0xff)
	}
	w.Buf = append(w.Buf, p...)
}

// header starts a packet: sync byte, PID, flags and continuity counter.
func (w *Writer) header(pid uint16, start, adapt bool) []byte {
	b := []byte{0x47, byte(pid >> 8 & 0x1f), byte(pid), 0x10 | w.cc[pid]&0x0f}
	if start {
		b[1] |= 0x40
	}
	if adapt {
		b[3] |= 0x20
	}
	w.cc[pid]++
	return b
}

// WriteVideo appends an H.264 access unit decoded at dts and presented
// at pts (ms): an access unit delimiter, the parameter sets before a
// keyframe, then the sample's NAL units with start codes. nalLen is the
// size of the sample's NAL length fields (from the avcC record).
func (w *Writer) WriteVideo(dts, pts int64, key bool, sample []byte, nalLen int, paramSets [][]byte) error {
	es := []byte{0, 0, 0, 1, 0x09, 0xf0}
	if key {
		for _, ps := range paramSets {
			es = append(append(es, 0, 0, 0, 1), ps...)
		}
	}
	for p := sample; len(p) > 0; {
		if len(p) < nalLen {
			return errors.New("mpegts: NAL length field truncated")
		}
		var n int
		for _, b := range p[:nalLen] {
			n = n<<8 | int(b)
		}
		p = p[nalLen:]
		if n > len(p) {
			return errors.New("mpegts: NAL unit truncated")
		}
		es = append(append(es, 0, 0, 0, 1), p[:n]...)
		p = p[n:]
	}
	w.pes(pidVideo, streamVideo, dts, pts, key, es)
	return nil
}

// WriteAudio appends one AAC frame at dts (ms) with its ADTS header.
// asc is the AudioSpecificConfig it was encoded with.
func (w *Writer) WriteAudio(dts int64, frame, asc []byte) error {
	if len(asc) < 2 {
		return errors.New("mpegts: AudioSpecificConfig too short")
	}
	obj := asc[0] >> 3
	freq := (asc[0]&7)<<1 | asc[1]>>7
	ch := (asc[1] >> 3) & 0x0f
	n := len(frame) + 7
	if obj < 1 || obj > 4 || n >= 1<<13 {
		return errors.New("mpegts: AAC frame not expressible in ADTS")
	}
	adts := []byte{0xff, 0xf1, (obj-1)<<6 | freq<<2 | ch>>2, (ch&3)<<6 | byte(n>>11), byte(n >> 3), byte(n&7)<<5 | 0x1f, 0xfc}
	w.pes(pidAudio, streamAudio, dts, dts, false, append(adts, frame...))
	return nil
}

// pes wraps es in a PES packet and splits it into TS packets; the first
// packet of a keyframe (or of any audio frame of an audio-only program)
// carries the PCR and the random access indicator.
func (w *Writer) pes(pid uint16, stream byte, dts, pts int64, key bool, es []byte) {
	hdr := []byte{0, 0, 1, stream, 0, 0, 0x80}
	if pts != dts {
		hdr = append(hdr, 0xc0, 10)
		hdr = appendTimestamp(hdr, 3, pts*clock)
		hdr = appendTimestamp(hdr, 1, dts*clock)
	} else {
		hdr = append(hdr, 0x80, 5)
		hdr = appendTimestamp(hdr, 2, pts*clock)
	}
	if l := len(hdr) - 6 + len(es); stream == streamAudio && l < 1<<16 {
		binary.BigEndian.PutUint16(hdr[4:], uint16(l)) // video: 0, unbounded
	}
	payload := append(hdr, es...)
	withPCR := key || (pid == pidAudio && !w.hasVideo)
	for first := true; len(payload) > 0; first = false {
		var af []byte // the adaptation field after its length byte
		hasAF := first && withPCR
		if hasAF {
			af = append([]byte{0x50}, pcrBytes(dts*clock)...) // random access, PCR
		}
		room := packetSize - 4
		if hasAF {
			room -= 1 + len(af)
		}
		if len(payload) < room { // the last packet is stuffed through the adaptation field
			stuff := room - len(payload)
			if !hasAF {
				hasAF, stuff = true, stuff-1 // its length byte
				if stuff > 0 {
					af, stuff = []byte{0x00}, stuff-1 // its flags
				}
			}
			for range stuff {
				af = append(af, 0xff)
			}
			room = len(payload)
		}
		p := w.header(pid, first, hasAF)
		if hasAF {
			p = append(p, byte(len(af)))
			p = append(p, af...)
		}
		w.Buf = append(append(w.Buf, p...), payload[:room]...)
		payload = payload[room:]
	}
}

// appendTimestamp writes a 33-bit PTS or DTS with its 4-bit prefix.
func appendTimestamp(b []byte, prefix byte, t int64) []byte {
	return append(b, prefix<<4|byte(t>>29)&0x0e|1, byte(t>>22), byte(t>>14)|1, byte(t>>7), byte(t<<1)|1)
}

// pcrBytes is a program clock reference of base t (90 kHz), extension 0.
func pcrBytes(t int64) []byte {
	return []byte{byte(t >> 25), byte(t >> 17), byte(t >> 9), byte(t >> 1), byte(t<<7) | 0x7e, 0}
}

// crc32MPEG is the CRC of PSI sections (polynomial 0x04C11DB7, MSB first,
// no final xor).
func crc32MPEG(b []byte) uint32 {
	crc := uint32(0xffffffff)
	for _, x := range b {
		crc ^= uint32(x) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
