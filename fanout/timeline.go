package fanout

// timeline maps a publisher's timestamps onto the stream's running timeline,
// once at ingest. It starts the stream at 0, continues where the previous
// publisher stopped when a new one arrives, and absorbs jumps in a
// publisher's clock, so that every player — early or late — sees one
// monotonic timeline and no per-player rewriting is needed.
//
// Players hold each track to its own clock: a muxer (ffmpeg's "Non-monotonous
// DTS", MSE's buffered ranges) wants every video timestamp after the
// previous video one and every audio timestamp after the previous audio
// one. So the timeline remembers where each track stopped, while one offset
// serves both tracks of a publisher, so that audio and video stay as in sync
// as the publisher made them. Where a new publisher (or a clock jump) begins
// is only known from its first frame, which may be audio; the first frame
// of the other track may then land at or before where that track stopped,
// and then the whole new source moves later, both tracks alike, just far
// enough.
type timeline struct {
	started bool
	resync  bool // the next timestamp starts a new publisher
	offset  int64
	// last is the newest output of each track, -1 before its first frame.
	last [frameKinds]int64
	// anchored marks a track whose first frame since the offset was set
	// (a new source, a clock jump) is still to come: that frame may move
	// the offset later.
	anchored [frameKinds]bool
	prevIn   int64 // previous input, unwrapped to 64 bits
}

// frameKind is what a stamped message is to the timeline: a frame of one of
// the two tracks, or no track's.
type frameKind uint8

const (
	videoFrame frameKind = iota
	audioFrame
	frameKinds // the number of tracks
)

// noTrack stamps a message that is no track's frame: a codec
// configuration, which players take as extradata (a keyframe commonly
// shares its header's timestamp), or a data message (a cue point, text).
// It needs a timestamp near the frames around it, but neither starts a
// source nor takes a track's place.
const noTrack = frameKinds

const (
	// maxBackstep tolerates audio and video interleaving slightly out of
	// order; a larger step back is a clock reset.
	maxBackstep = 1000
	// maxJump is the largest forward step taken at face value.
	maxJump = 10000
	// reconnectGap separates the newest frame of one publisher from the
	// first of the next, about one video frame.
	reconnectGap = 40
)

// next stamps a message of kind k whose publisher's timestamp is in.
func (t *timeline) next(k frameKind, in uint32) uint32 {
	x := t.unwrap(in)
	if k == noTrack {
		return t.trackless(x)
	}
	switch {
	case !t.started:
		t.started = true
		t.last = [frameKinds]int64{-1, -1}
		t.anchor(x, 0)
	case t.resync:
		t.anchor(x, t.head()+reconnectGap)
	}
	t.resync = false
	out := x + t.offset
	if head := t.head(); out < head-maxBackstep || out > head+maxJump {
		// The publisher's clock jumped: continue as after a new one.
		t.anchor(x, head+reconnectGap)
		out = x + t.offset
	}
	if out <= t.last[k] {
		if t.anchored[k] {
			// The track's first frame of this source: the source
			// starts later, both tracks alike.
			t.offset += t.last[k] + 1 - out
		}
		// Otherwise the publisher itself repeated or stepped back on
		// this track; only this frame moves.
		out = t.last[k] + 1
	}
	t.anchored[k] = false
	t.last[k] = out
	return uint32(out)
}

// anchor sets the offset so that input x comes out at at, for the frames
// of a new source (or of a clock that jumped).
func (t *timeline) anchor(x, at int64) {
	t.offset = at - x
	t.anchored = [frameKinds]bool{true, true}
}

// head is the newest output of any track (-1 before the first frame).
func (t *timeline) head() int64 { return max(t.last[videoFrame], t.last[audioFrame]) }

// trackless stamps a message of no track at input x: on the current
// source's timeline, or, before that source's first frame, where it will
// most likely start.
func (t *timeline) trackless(x int64) uint32 {
	if !t.started {
		return 0
	}
	head := t.head()
	if t.resync {
		return uint32(head + reconnectGap)
	}
	out := x + t.offset
	if out < head-maxBackstep || out > head+maxJump {
		out = head
	}
	return uint32(max(out, 0))
}

// unwrap extends a 32-bit timestamp across wrap-arounds (every 49.7 days).
func (t *timeline) unwrap(in uint32) int64 {
	x := t.prevIn&^0xFFFFFFFF | int64(in)
	if t.started {
		switch {
		case x < t.prevIn-1<<31:
			x += 1 << 32
		case x > t.prevIn+1<<31 && x >= 1<<32:
			x -= 1 << 32
		}
	}
	t.prevIn = x
	return x
}
