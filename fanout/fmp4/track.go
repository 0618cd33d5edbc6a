// Package fmp4 turns FLV audio and video tag payloads (RTMP messages) into
// CMAF fragmented MP4: an init segment (ftyp + moov) built from the
// sequence headers, and fragments (moof + mdat) of samples.
//
// It is format plumbing only: it keeps no per-viewer state, so whatever
// cuts fragments — the HLS segmenter, a live fMP4 encoder of the fan-out —
// serializes each fragment once and hands the same bytes to everyone.
package fmp4

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/bbllive/bbllive/rtmp"
)

// Kind says whether a track is video or audio.
type Kind uint8

// The track kinds.
const (
	Video Kind = iota + 1
	Audio
)

// Timescales. 90 kHz for video is what every MPEG tool expects and divides
// the FLV millisecond clock exactly; audio ticks at its sample rate.
const videoTimescale = 90000

// Track is one elementary stream of an init segment, made from its FLV
// sequence header.
type Track struct {
	ID        uint32 // track_ID in the init segment and fragments
	Kind      Kind
	Codec     string // RFC 6381 codecs value: "avc1.64001f", "mp4a.40.2"
	Timescale uint32 // ticks per second of its sample times
	Width     int    // video only
	Height    int
	Rate      int // audio sample rate
	Channels  int

	fourCC string // sample entry type: "avc1", "mp4a"
	config []byte // avcC record or AudioSpecificConfig
}

// FrameSamples is the number of audio samples in one AAC frame, so the
// duration of every audio sample.
const FrameSamples = 1024

// NewVideoTrack builds a video track from an FLV video sequence header:
// H.264 (legacy or enhanced RTMP "avc1"), HEVC (enhanced "hvc1", or the
// widespread legacy codec id 12) or AV1 (enhanced "av01", or legacy id 13).
func NewVideoTrack(id uint32, seq []byte) (*Track, error) {
	if !rtmp.IsVideoSequenceHeader(seq) || len(seq) < 5 {
		return nil, errors.New("fmp4: not a video sequence header")
	}
	// Legacy: 1 byte header, packet type, 3 bytes CTO; enhanced: header +
	// FourCC. Either way the record starts at byte 5.
	rec := seq[5:]
	t := &Track{ID: id, Kind: Video, Timescale: videoTimescale, config: bytes.Clone(rec)}
	switch codec := rtmp.VideoCodec(seq); codec {
	case "avc":
		c, err := parseAVCConfig(rec)
		if err != nil {
			return nil, err
		}
		t.Codec, t.Width, t.Height, t.fourCC = avcCodecString(c), c.width, c.height, "avc1"
	case "hevc":
		c, err := parseHVCC(rec)
		if err != nil {
			return nil, err
		}
		t.Codec, t.Width, t.Height, t.fourCC = c.codec, c.width, c.height, "hvc1"
	case "av1":
		c, err := parseAV1C(rec)
		if err != nil {
			return nil, err
		}
		t.Codec, t.Width, t.Height, t.fourCC = c.codec, c.width, c.height, "av01"
	default:
		return nil, fmt.Errorf("fmp4: video codec %q is not supported (H.264, HEVC, AV1)", codec)
	}
	return t, nil
}

// NewAudioTrack builds an audio track from an FLV AAC sequence header.
func NewAudioTrack(id uint32, seq []byte) (*Track, error) {
	if !rtmp.IsAudioSequenceHeader(seq) || !isLegacyAAC(seq) {
		return nil, fmt.Errorf("fmp4: audio codec %q is not supported (AAC only)", rtmp.AudioCodec(seq))
	}
	asc := seq[2:]
	c, err := parseAAC(asc)
	if err != nil {
		return nil, err
	}
	return &Track{ID: id, Kind: Audio, Codec: aacCodecString(c), Timescale: uint32(c.sampleRate),
		Rate: c.sampleRate, Channels: c.channels, fourCC: "mp4a", config: bytes.Clone(asc)}, nil
}

// Config is the track's decoder configuration as the publisher sent it:
// the avcC/hvcC/av1C record, or the AAC AudioSpecificConfig.
func (t *Track) Config() []byte { return t.config }

// Same reports whether two tracks decode alike: the same codec
// configuration, so no new init segment is needed between them.
func (t *Track) Same(o *Track) bool {
	if t == nil || o == nil {
		return t == o
	}
	return t.Kind == o.Kind && t.fourCC == o.fourCC && bytes.Equal(t.config, o.config)
}

// Ticks converts a time in milliseconds to the track's timescale.
func (t *Track) Ticks(ms int64) int64 { return ms * int64(t.Timescale) / 1000 }

// Frame is one coded frame taken from an FLV payload.
type Frame struct {
	Key  bool  // a sync sample (video keyframe; every audio frame)
	CTO  int32 // composition time offset, milliseconds (video)
	Data []byte
}

// VideoFrame extracts the coded frame of an FLV video payload. ok
// is false for what is not a frame (sequence header, end of sequence).
// Data aliases p.
func VideoFrame(p []byte) (f Frame, ok bool) {
	if len(p) < 5 || rtmp.IsVideoSequenceHeader(p) {
		return f, false
	}
	if rtmp.IsExVideo(p) {
		switch p[0] & 0x0f {
		case 1: // CodedFrames: for avc1 and hvc1 a 24-bit CTO precedes the data
			f.Data = p[5:]
			if fourCC := string(p[1:5]); fourCC == "avc1" || fourCC == "hvc1" {
				if len(p) < 8 {
					return f, false
				}
				f.CTO = cto24(p[5:8])
				f.Data = p[8:]
			}
		case 3: // CodedFramesX: CTO is zero
			f.Data = p[5:]
		default:
			return f, false
		}
	} else {
		if p[1] != 1 {
			return f, false
		}
		f.CTO = cto24(p[2:5])
		f.Data = p[5:]
	}
	f.Key = rtmp.IsKeyframe(p)
	return f, len(f.Data) > 0
}

// AudioFrame extracts the raw AAC frame of an FLV AAC payload.
func AudioFrame(p []byte) (f Frame, ok bool) {
	if len(p) < 3 || !isLegacyAAC(p) || p[1] != 1 {
		return f, false
	}
	return Frame{Key: true, Data: p[2:]}, true
}

// cto24 reads a signed 24-bit big-endian composition time offset.
func cto24(b []byte) int32 {
	v := int32(b[0])<<16 | int32(b[1])<<8 | int32(b[2])
	return v << 8 >> 8
}

// isLegacyAAC reports whether an audio payload is FLV's AAC layout (sound
// format 10, then the AAC packet type).
func isLegacyAAC(p []byte) bool { return len(p) > 1 && p[0]>>4 == 10 }
