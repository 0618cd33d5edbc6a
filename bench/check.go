package bench

import (
	"time"

	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/rtmp"
)

// Stream violations a full-mode player reports, by reason.
const (
	ViolationBackwardsVideo = "ts_backwards_video"
	ViolationBackwardsAudio = "ts_backwards_audio"
	ViolationNotKeyFirst    = "keyframe_not_first"
	ViolationNoSeqHeader    = "frame_before_sequence_header"
	ViolationGap            = "gap"
)

// checker verifies what one player receives, message by message: per-track
// timestamps never go back, the first video frame is a keyframe that
// follows a sequence header, and no frame is missing — exactly, by the
// frame counter of a synthetic stream, or else as a video timestamp jump
// larger than gapAfter.
type checker struct {
	gapAfter   uint32 // ms
	lastVideo  int64
	lastAudio  int64
	seqHeader  bool
	sawFrame   bool
	counter    uint64
	hasCounter bool
	violations map[string]int
}

func newChecker(gapAfter time.Duration) *checker {
	return &checker{gapAfter: uint32(gapAfter / time.Millisecond), lastVideo: -1, lastAudio: -1}
}

func (c *checker) flag(reason string) {
	if c.violations == nil {
		c.violations = make(map[string]int)
	}
	c.violations[reason]++
}

func (c *checker) check(m *rtmp.Message) {
	switch m.Type {
	case rtmp.TypeAudio:
		if !rtmp.IsAudioSequenceHeader(m.Payload) {
			if int64(m.Timestamp) < c.lastAudio {
				c.flag(ViolationBackwardsAudio)
			}
			c.lastAudio = int64(m.Timestamp)
		}
	case rtmp.TypeVideo:
		c.video(m)
	}
}

func (c *checker) video(m *rtmp.Message) {
	if rtmp.IsVideoSequenceHeader(m.Payload) {
		c.seqHeader = true
		return
	}
	if !c.sawFrame {
		c.sawFrame = true
		if !c.seqHeader {
			c.flag(ViolationNoSeqHeader)
		}
		if !rtmp.IsKeyframe(m.Payload) {
			c.flag(ViolationNotKeyFirst)
		}
	}
	ts := int64(m.Timestamp)
	if ts < c.lastVideo {
		c.flag(ViolationBackwardsVideo)
	}
	n, ok := synth.FrameCounter(m.Payload)
	switch {
	case ok && c.hasCounter:
		if n != c.counter+1 {
			c.flag(ViolationGap)
		}
	case !ok && c.lastVideo >= 0 && c.gapAfter > 0 && ts-c.lastVideo > int64(c.gapAfter):
		c.flag(ViolationGap)
	}
	c.counter, c.hasCounter = n, ok
	c.lastVideo = ts
}
