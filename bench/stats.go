package bench

import (
	"math"
	"slices"
	"time"
)

// Summary is the distribution of one figure over players.
type Summary struct {
	N   int     `json:"n"`
	Min float64 `json:"min"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// SummaryOf sorts a copy of xs and reads its percentiles.
func SummaryOf(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return Summary{N: len(s), Min: s[0], P50: Percentile(s, 50), P99: Percentile(s, 99), Max: s[len(s)-1]}
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted: the smallest value at or below which p % of the values lie. It is
// always one of the values, never an interpolation, so a p99 of 1000
// players is the 990th value. An empty slice gives NaN.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// ms expresses d in milliseconds as a float for summaries.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// kbps is the rate of n bytes over d in kilobits per second.
func kbps(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) * 8 / 1000 / d.Seconds()
}
