package bench

import (
	"math"
	"sync"
	"time"

	"github.com/bbllive/bbllive/fanout/hls/hlstest"
)

// partLiveTimes maps every part a playlist lists to the wall-clock time
// its first sample went live: its segment's EXT-X-PROGRAM-DATE-TIME plus
// the durations of the parts before it in that segment (RFC 8216bis
// 4.4.4.6: the date applies to the segment's first sample). Parts of a
// segment without a date are left out: nothing says when they were live.
func partLiveTimes(pl *hlstest.Playlist) map[string]time.Time {
	out := map[string]time.Time{}
	add := func(pdt time.Time, parts []hlstest.Part) {
		if pdt.IsZero() {
			return
		}
		var offset float64 // seconds into the segment
		for _, p := range parts {
			out[p.URI] = pdt.Add(time.Duration(math.Round(offset * float64(time.Second))))
			offset += p.Duration
		}
	}
	for _, s := range pl.Segments {
		add(s.PDT, s.Parts)
	}
	add(pl.PendingPDT, pl.Pending)
	return out
}

// Latency histogram bounds: 1 ms buckets up to a minute; a latency past
// it still counts, in the last bucket, and as the maximum.
const (
	latencyBucket  = time.Millisecond
	latencyBuckets = 60_000
)

// latencyHistogram is the distribution of how far behind live a load's
// clients got their parts, at 1 ms resolution, in memory that does not
// grow with the load's size or length. Safe for concurrent use.
type latencyHistogram struct {
	mu       sync.Mutex
	counts   []uint64
	n        uint64
	min, max time.Duration
}

func newLatencyHistogram() *latencyHistogram {
	return &latencyHistogram{counts: make([]uint64, latencyBuckets)}
}

// add counts one latency. A negative one (a part that arrived before its
// stated date: the server's clock estimate running ahead) counts in the
// first bucket and shows in the minimum.
func (h *latencyHistogram) add(d time.Duration) {
	i := min(max(int(d/latencyBucket), 0), latencyBuckets-1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if h.n == 0 || d > h.max {
		h.max = d
	}
	h.counts[i]++
	h.n++
}

// reset forgets everything counted so far.
func (h *latencyHistogram) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.counts)
	h.n, h.min, h.max = 0, 0, 0
}

// summary gives the distribution in milliseconds: nearest-rank
// percentiles (as Percentile), each the upper edge of its 1 ms bucket
// but never past the maximum, and the exact minimum and maximum.
func (h *latencyHistogram) summary() Summary {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return Summary{}
	}
	return Summary{N: int(h.n), Min: ms(h.min), P50: h.percentile(50), P99: h.percentile(99), Max: ms(h.max)}
}

func (h *latencyHistogram) percentile(p float64) float64 {
	rank := min(max(uint64(math.Ceil(p/100*float64(h.n))), 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			if i == latencyBuckets-1 {
				return ms(h.max)
			}
			return math.Max(math.Min(ms(time.Duration(i+1)*latencyBucket), ms(h.max)), ms(h.min))
		}
	}
	return ms(h.max)
}
