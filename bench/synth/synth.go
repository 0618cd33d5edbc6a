// Package synth generates a synthetic live stream — H.264 video and AAC
// audio of a chosen bitrate, frame rate and GOP — as RTMP messages, with no
// encoder and no input file. Every frame is valid and decodes (a flat grey
// picture and silence), keyframes are flagged, the AVC and AAC sequence
// headers are real, and each video frame carries a counter (a user-data
// SEI) that lets a player detect a missing frame exactly.
//
// A Source is an iterator: Next returns the next message and when, from the
// start of the stream, it is due. Pacing is the caller's business, so tests
// can run a stream faster than real time.
package synth

import (
	"fmt"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// Config describes the stream. Zero fields take the defaults below.
type Config struct {
	// Bitrate is the total bitrate in bits per second, audio included
	// (default 908000, the stream every figure in README.md and docs/bench.md
	// was measured with).
	Bitrate int
	// FPS is the video frame rate (default 25).
	FPS int
	// GOP is the number of frames from one keyframe to the next (default
	// 2 × FPS).
	GOP int
	// Width and Height are the picture size (default 640x360).
	Width, Height int
	// Audio adds an AAC-LC 44.1 kHz stereo track.
	Audio bool
	// AudioBitrate is the audio track's share of Bitrate (default 64000).
	AudioBitrate int
	// KeyframeWeight is how many times larger a keyframe is than another
	// frame (default 5), as in real encodes where an IDR costs most.
	KeyframeWeight int
}

// Defaults.
const (
	DefaultBitrate      = 908000
	DefaultFPS          = 25
	DefaultWidth        = 640
	DefaultHeight       = 360
	DefaultAudioBitrate = 64000
	DefaultKeyWeight    = 5
)

func (c *Config) withDefaults() {
	if c.Bitrate <= 0 {
		c.Bitrate = DefaultBitrate
	}
	if c.FPS <= 0 {
		c.FPS = DefaultFPS
	}
	if c.GOP <= 0 {
		c.GOP = 2 * c.FPS
	}
	if c.Width <= 0 {
		c.Width = DefaultWidth
	}
	if c.Height <= 0 {
		c.Height = DefaultHeight
	}
	if c.AudioBitrate <= 0 {
		c.AudioBitrate = DefaultAudioBitrate
	}
	if c.KeyframeWeight <= 0 {
		c.KeyframeWeight = DefaultKeyWeight
	}
}

// Validate reports a configuration that cannot be generated.
func (c Config) Validate() error {
	c.withDefaults()
	if c.FPS > 240 {
		return fmt.Errorf("synth: %d fps: at most 240", c.FPS)
	}
	if c.Bitrate > 200_000_000 {
		return fmt.Errorf("synth: bitrate %d: at most 200 Mbit/s", c.Bitrate)
	}
	if c.Audio && c.AudioBitrate >= c.Bitrate {
		return fmt.Errorf("synth: audio bitrate %d leaves nothing of %d for video", c.AudioBitrate, c.Bitrate)
	}
	_, err := newH264(c.Width, c.Height)
	return err
}

// Source yields the messages of one synthetic stream in timestamp order:
// metadata and the two sequence headers at 0, then video frames and audio
// frames interleaved. It is not safe for concurrent use.
type Source struct {
	cfg        Config
	h          *h264
	headers    []*rtmp.Message
	keySize    int
	interSize  int
	audioFrame []byte
	sent       int    // headers handed out
	video      uint64 // frames produced
	audio      uint64
}

// New returns a source; the error reports a Config that Validate refuses.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.withDefaults()
	h, _ := newH264(cfg.Width, cfg.Height)
	s := &Source{cfg: cfg, h: h}
	vbps := cfg.Bitrate
	if cfg.Audio {
		vbps -= cfg.AudioBitrate
		perFrame := cfg.AudioBitrate / 8 * aacFrameSamples / aacSampleRate
		s.audioFrame = append([]byte{aacFlvHeader, 1}, aacFrame(perFrame-2)...)
	}
	gopBytes := float64(vbps) / 8 * float64(cfg.GOP) / float64(cfg.FPS)
	s.interSize = int(gopBytes / float64(cfg.GOP-1+cfg.KeyframeWeight))
	s.keySize = s.interSize * cfg.KeyframeWeight
	s.headers = s.buildHeaders()
	return s, nil
}

// Config is the configuration in effect, defaults filled in.
func (s *Source) Config() Config { return s.cfg }

func (s *Source) buildHeaders() []*rtmp.Message {
	c := s.cfg
	meta := rtmp.ECMAArray{
		{Key: "duration", Value: 0.0},
		{Key: "width", Value: float64(c.Width)},
		{Key: "height", Value: float64(c.Height)},
		{Key: "videodatarate", Value: float64(c.Bitrate-c.AudioBitrate) / 1000},
		{Key: "framerate", Value: float64(c.FPS)},
		{Key: "videocodecid", Value: 7.0},
		{Key: "encoder", Value: "bbllive synth"},
	}
	if c.Audio {
		meta = append(meta,
			rtmp.Property{Key: "audiodatarate", Value: float64(c.AudioBitrate) / 1000},
			rtmp.Property{Key: "audiosamplerate", Value: float64(aacSampleRate)},
			rtmp.Property{Key: "audiosamplesize", Value: 16.0},
			rtmp.Property{Key: "stereo", Value: true},
			rtmp.Property{Key: "audiocodecid", Value: 10.0})
	}
	data, err := rtmp.AppendAMF0(nil, "@setDataFrame", "onMetaData", meta)
	if err != nil {
		panic(err) // the values above are all encodable
	}
	msgs := []*rtmp.Message{
		{Type: rtmp.TypeDataAMF0, CSID: rtmp.CSIDData, Payload: data},
		{Type: rtmp.TypeVideo, CSID: rtmp.CSIDVideo, Payload: append([]byte{0x17, 0, 0, 0, 0}, s.h.decoderConfig()...)},
	}
	if c.Audio {
		msgs = append(msgs, &rtmp.Message{Type: rtmp.TypeAudio, CSID: rtmp.CSIDAudio,
			Payload: append([]byte{aacFlvHeader, 0}, audioSpecificConfig...)})
	}
	return msgs
}

// Headers returns the metadata and sequence header messages, which Next
// also yields first; a publisher that reconnects sends them again.
func (s *Source) Headers() []*rtmp.Message { return s.headers }

// Next returns the next message (its payload owned by the caller) and the
// time from the start of the stream at which it is due. The stream never
// ends.
func (s *Source) Next() (*rtmp.Message, time.Duration) {
	if s.sent < len(s.headers) {
		h := *s.headers[s.sent]
		s.sent++
		h.Payload = append([]byte(nil), h.Payload...)
		return &h, 0
	}
	vDue := s.videoDue(s.video)
	if s.cfg.Audio {
		if aDue := s.audioDue(s.audio); aDue < vDue {
			s.audio++
			return &rtmp.Message{Type: rtmp.TypeAudio, CSID: rtmp.CSIDAudio, Timestamp: ms(aDue),
				Payload: append([]byte(nil), s.audioFrame...)}, aDue
		}
	}
	m := s.videoFrame(s.video)
	m.Timestamp = ms(vDue)
	s.video++
	return m, vDue
}

func (s *Source) videoDue(i uint64) time.Duration {
	return time.Duration(i) * time.Second / time.Duration(s.cfg.FPS)
}

func (s *Source) audioDue(i uint64) time.Duration {
	return time.Duration(i) * aacFrameSamples * time.Second / aacSampleRate
}

// ms is the RTMP timestamp of d, truncated like an encoder's clock.
func ms(d time.Duration) uint32 { return uint32(d / time.Millisecond) }

// videoFrame builds frame i: an IDR at every GOP start, else a P frame,
// each with its counter SEI, padded with filler to its size.
func (s *Source) videoFrame(i uint64) *rtmp.Message {
	pos := int(i % uint64(s.cfg.GOP))
	key := pos == 0
	size, slice, flv := s.interSize, s.h.p[pos%len(s.h.p)], byte(0x27)
	if key {
		size, slice, flv = s.keySize, s.h.idr[(i/uint64(s.cfg.GOP))%2], 0x17
	}
	b := make([]byte, 0, max(size, 64+len(slice)))
	b = append(b, flv, 1, 0, 0, 0)
	b = appendSEI(b, i)
	b = appendNAL(b, slice)
	b = appendFiller(b, size-len(b))
	return &rtmp.Message{Type: rtmp.TypeVideo, CSID: rtmp.CSIDVideo, Payload: b}
}

// IsSynthetic reports whether a video payload comes from a Source.
func IsSynthetic(payload []byte) bool {
	_, ok := FrameCounter(payload)
	return ok
}
