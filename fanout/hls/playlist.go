package hls

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// partsListed is how many complete segments before the open one keep
// their EXT-X-PART lines: enough for a player joining within the last
// few seconds, while old parts (which the spec lets go after three
// target durations) leave the playlist short.
const partsListed = 2

// advancePartLimit is how many parts past the newest a blocking request
// may ask for before it is refused (400) as too far ahead.
const advancePartLimit = 3

func segmentName(epoch string, msn uint64, ext string) string {
	return fmt.Sprintf("%s-%d%s", epoch, msn, ext)
}
func partName(epoch string, msn uint64, i int, ext string) string {
	return fmt.Sprintf("%s-%d.%d%s", epoch, msn, i, ext)
}

// ext is the file extension of segments and parts.
func (s *segmenter) ext() string {
	if s.cfg.Format == FormatTS {
		return ".ts"
	}
	return ".m4s"
}

// contentType is the media type of segments and parts.
func (s *segmenter) contentType() string {
	if s.cfg.Format == FormatTS {
		return "video/mp2t"
	}
	return typeMedia
}
func initName(epoch string, id int) string { return fmt.Sprintf("init-%s-%d.mp4", epoch, id) }

// targetDuration is EXT-X-TARGETDURATION: the configured target, or
// more where a GOP was longer, in whole seconds; every segment rounds to
// at most it.
func (s *segmenter) targetDuration() int {
	t := int(math.Ceil(s.cfg.SegmentTarget.Seconds()))
	for _, g := range s.segments {
		if r := int(math.Round(g.dur.Seconds())); r > t {
			t = r
		}
	}
	if s.cur != nil {
		if r := int(math.Round(s.cur.dur.Seconds())); r > t {
			t = r
		}
	}
	return t
}

// ready reports whether there is a playlist to give: a complete segment.
func (s *segmenter) ready() bool { return len(s.segments) > 0 }

// lastMSN is the newest segment in the playlist, open or not.
func (s *segmenter) lastMSN() uint64 {
	if s.cur != nil {
		return s.cur.msn
	}
	return s.nextMSN - 1
}

// has reports whether part p of segment msn is published (p < 0: the
// whole segment). A part past the end of a complete segment is the next
// segment's first part, as a blocking playlist request means it.
func (s *segmenter) has(msn uint64, p int) bool {
	if s.cur != nil && msn == s.cur.msn {
		return p >= 0 && p < len(s.cur.parts)
	}
	if msn >= s.nextMSN {
		return false
	}
	g := s.find(msn)
	if g == nil || p < 0 || p < len(g.parts) {
		return true // long gone, or there
	}
	return s.has(msn+1, 0)
}

// find returns segment msn, open or complete, if still held.
func (s *segmenter) find(msn uint64) *segment {
	if s.cur != nil && s.cur.msn == msn {
		return s.cur
	}
	if len(s.segments) == 0 || msn < s.segments[0].msn {
		return nil
	}
	if i := msn - s.segments[0].msn; i < uint64(len(s.segments)) {
		return s.segments[i]
	}
	return nil
}

// tooFar reports whether a blocking request asks for more than the
// spec lets a server wait for (RFC 8216bis 6.2.5.2: 400).
func (s *segmenter) tooFar(msn uint64, p int) bool {
	last := s.lastMSN()
	if !s.ready() && s.cur == nil {
		return false
	}
	if msn > last+2 {
		return true
	}
	if s.cur != nil && msn == s.cur.msn && p > len(s.cur.parts)+advancePartLimit {
		return true
	}
	return false
}

// render writes the LL-HLS media playlist; query ("" or "?…") follows
// every URI it lists.
func (s *segmenter) render(epoch, query string) []byte {
	var b strings.Builder
	td := s.targetDuration()
	pt := s.cfg.PartTarget.Seconds()
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:%d\n", td)
	fmt.Fprintf(&b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%.3f,HOLD-BACK=%d\n", 3*pt, 3*td)
	fmt.Fprintf(&b, "#EXT-X-PART-INF:PART-TARGET=%.3f\n", pt)
	first := s.segments[0]
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n", first.msn)
	if s.discSeq > 0 {
		fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", s.discSeq)
	}
	b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n")
	all := s.segments
	if s.cur != nil {
		all = append(all[:len(all):len(all)], s.cur)
	}
	var init *initSegment
	for i, g := range all {
		if g.disc {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if g.init != init && g.init != nil { // TS segments need none
			init = g.init
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s%s\"\n", initName(epoch, init.id), query)
		}
		fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", g.pdt.UTC().Format("2006-01-02T15:04:05.000Z"))
		if i >= len(all)-partsListed-1 {
			for j, p := range g.parts {
				fmt.Fprintf(&b, "#EXT-X-PART:DURATION=%.3f,URI=\"%s%s\"", p.dur.Seconds(), partName(epoch, g.msn, j, s.ext()), query)
				if p.independent {
					b.WriteString(",INDEPENDENT=YES")
				}
				b.WriteByte('\n')
			}
		}
		if g.complete {
			fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s%s\n", g.dur.Seconds(), segmentName(epoch, g.msn, s.ext()), query)
		}
	}
	next, np := s.nextMSN, 0
	if s.cur != nil {
		next, np = s.cur.msn, len(s.cur.parts)
	}
	fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%s%s\"\n", partName(epoch, next, np, s.ext()), query)
	return []byte(b.String())
}

// blockLimit is how long a blocking request may be held: three target
// durations, as the spec allows, then 503.
func (s *segmenter) blockLimit() time.Duration {
	return 3 * time.Duration(s.targetDuration()) * time.Second
}
