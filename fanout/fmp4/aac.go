package fmp4

import (
	"errors"
	"fmt"
)

// aacConfig is what the init segment needs from an AAC
// AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1).
type aacConfig struct {
	objectType int
	sampleRate int
	channels   int
}

var aacRates = [...]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

func parseAAC(asc []byte) (aacConfig, error) {
	var c aacConfig
	if len(asc) < 2 {
		return c, errors.New("fmp4: AudioSpecificConfig shorter than 2 bytes")
	}
	r := &bitReader{b: asc}
	c.objectType = int(r.bits(5))
	if c.objectType == 31 {
		c.objectType = 32 + int(r.bits(6))
	}
	idx := r.bits(4)
	switch {
	case idx == 15:
		c.sampleRate = int(r.bits(24))
	case int(idx) < len(aacRates):
		c.sampleRate = aacRates[idx]
	default:
		return c, fmt.Errorf("fmp4: AAC sampling frequency index %d", idx)
	}
	c.channels = int(r.bits(4))
	if r.err != nil {
		return c, r.err
	}
	if c.objectType == 0 || c.sampleRate == 0 {
		return c, errors.New("fmp4: AAC object type or sample rate is 0")
	}
	switch c.channels {
	case 0:
		c.channels = 2 // given in a program config element; stereo is the usual case
	case 7:
		c.channels = 8 // 7.1
	}
	return c, nil
}

// appendESDS writes an esds box: the ES descriptor that carries the
// AudioSpecificConfig (ISO/IEC 14496-1, 7.2.6.5; 14496-14, 5.6).
func appendESDS(w *boxWriter, trackID uint32, asc []byte) {
	off := w.full("esds", 0, 0)
	dsi := descriptor(0x05, asc)
	dcd := descriptor(0x04, append([]byte{0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, dsi...))
	es := descriptor(0x03, append(append([]byte{byte(trackID >> 8), byte(trackID), 0}, dcd...), descriptor(0x06, []byte{0x02})...))
	w.raw(es)
	w.end(off)
}

// descriptor frames an MPEG-4 descriptor with the 4-byte size form every
// demuxer reads.
func descriptor(tag byte, body []byte) []byte {
	n := len(body)
	return append([]byte{tag, 0x80 | byte(n>>21&0x7f), 0x80 | byte(n>>14&0x7f), 0x80 | byte(n>>7&0x7f), byte(n & 0x7f)}, body...)
}

func aacCodecString(c aacConfig) string { return fmt.Sprintf("mp4a.40.%d", c.objectType) }
