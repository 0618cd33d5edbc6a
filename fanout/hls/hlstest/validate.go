package hlstest

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// tolerance absorbs the three decimals durations are written with.
const tolerance = 0.0015

// Validate checks the LL-HLS rules of one playlist: segment durations
// within the target duration, part durations within the part target,
// every segment with listed parts as long as their sum, the server
// control a low-latency player needs, an init segment before any media,
// and a preload hint.
func (p *Playlist) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.TargetDuration <= 0 {
		bad("no EXT-X-TARGETDURATION")
	}
	if p.PartTarget <= 0 {
		bad("no EXT-X-PART-INF PART-TARGET")
	}
	if !p.CanBlockReload {
		bad("no CAN-BLOCK-RELOAD=YES")
	}
	if p.PartHoldBack < 2*p.PartTarget {
		bad("PART-HOLD-BACK %.3f below twice the part target %.3f", p.PartHoldBack, p.PartTarget)
	}
	if len(p.Segments) == 0 {
		bad("no complete segment")
	}
	for _, s := range p.Segments {
		if s.Map == "" && !strings.HasSuffix(s.URI, ".ts") { // MPEG-TS needs no init segment
			bad("segment %d has no EXT-X-MAP before it", s.MSN)
		}
		if r := int(math.Round(s.Duration)); r > p.TargetDuration {
			bad("segment %d lasts %.3fs, more than the target duration %d", s.MSN, s.Duration, p.TargetDuration)
		}
		if s.PDT.IsZero() {
			bad("segment %d has no EXT-X-PROGRAM-DATE-TIME", s.MSN)
		}
		if len(s.Parts) > 0 {
			sum := 0.0
			for _, pt := range s.Parts {
				sum += pt.Duration
			}
			if math.Abs(sum-s.Duration) > tolerance*float64(len(s.Parts)) {
				bad("segment %d lasts %.3fs but its parts sum to %.3fs", s.MSN, s.Duration, sum)
			}
			if !s.Parts[0].Independent {
				bad("segment %d does not start with an independent part", s.MSN)
			}
		}
		p.checkParts(s.Parts, bad)
	}
	p.checkParts(p.Pending, bad)
	if p.PreloadHint == "" {
		bad("no EXT-X-PRELOAD-HINT TYPE=PART")
	}
	return errors.Join(errs...)
}

func (p *Playlist) checkParts(parts []Part, bad func(string, ...any)) {
	for _, pt := range parts {
		if pt.Duration > p.PartTarget+tolerance {
			bad("part %s lasts %.3fs, more than the part target %.3f", pt.URI, pt.Duration, p.PartTarget)
		}
		if pt.Duration <= 0 {
			bad("part %s has no duration", pt.URI)
		}
	}
}

// Continues checks that next, a later reload, continues p: the media
// sequence does not go back, segments present in both have the same URI,
// duration and discontinuity sequence number, and a segment that follows
// the last one of p directly is numbered one more.
func (p *Playlist) Continues(next *Playlist) error {
	if next.MediaSequence < p.MediaSequence {
		return fmt.Errorf("media sequence went back from %d to %d", p.MediaSequence, next.MediaSequence)
	}
	if next.DiscontinuitySequence < p.DiscontinuitySequence {
		return fmt.Errorf("discontinuity sequence went back from %d to %d", p.DiscontinuitySequence, next.DiscontinuitySequence)
	}
	old := map[uint64]Segment{}
	for _, s := range p.Segments {
		old[s.MSN] = s
	}
	for _, s := range next.Segments {
		o, ok := old[s.MSN]
		if !ok {
			continue
		}
		if o.URI != s.URI || math.Abs(o.Duration-s.Duration) > tolerance || o.DSN != s.DSN || o.Map != s.Map {
			return fmt.Errorf("segment %d changed between reloads: %+v then %+v", s.MSN, o, s)
		}
	}
	if len(p.Segments) > 0 && len(next.Segments) > 0 {
		last := p.Segments[len(p.Segments)-1].MSN
		if next.Segments[len(next.Segments)-1].MSN < last {
			return fmt.Errorf("newest segment went back from %d to %d", last, next.Segments[len(next.Segments)-1].MSN)
		}
	}
	return nil
}
