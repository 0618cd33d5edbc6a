package fanout

// timeline maps a publisher's timestamps onto the stream's running timeline,
// once at ingest. It starts the stream at 0, continues where the previous
// publisher stopped when a new one arrives, and absorbs jumps in a
// publisher's clock, so that every player — early or late — sees one
// monotonic timeline and no per-player rewriting is needed.
type timeline struct {
	started bool
	resync  bool // the next timestamp starts a new publisher
	offset  int64
	last    int64
	prevIn  int64 // previous input, unwrapped to 64 bits
}

const (
	// maxBackstep tolerates audio and video interleaving slightly out of
	// order; a larger step back is a clock reset.
	maxBackstep = 1000
	// maxJump is the largest forward step taken at face value.
	maxJump = 10000
	// reconnectGap separates the last frame of one publisher from the first
	// of the next, about one video frame.
	reconnectGap = 40
)

func (t *timeline) next(in uint32) uint32 {
	x := t.unwrap(in)
	switch {
	case !t.started:
		t.offset, t.started = -x, true
	case t.resync:
		t.offset = t.last + reconnectGap - x
	}
	t.resync = false
	out := x + t.offset
	if out < t.last-maxBackstep || out > t.last+maxJump {
		t.offset = t.last - x
		out = t.last
	}
	if out > t.last {
		t.last = out
	}
	return uint32(out)
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
