package bench

import (
	"maps"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/hls/hlstest"
)

// llPlaylist is a playlist as the server writes it: a segment whose parts
// are no longer listed, one with its parts, and the one being cut.
const llPlaylist = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600,HOLD-BACK=6
#EXT-X-PART-INF:PART-TARGET=0.200
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-MAP:URI="init-a-1.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z
#EXTINF:2.000,
a-7.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000Z
#EXT-X-PART:DURATION=0.200,URI="a-8.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.160,URI="a-8.1.m4s"
#EXT-X-PART:DURATION=0.040,URI="a-8.2.m4s"
#EXTINF:0.400,
a-8.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.400Z
#EXT-X-PART:DURATION=0.200,URI="a-9.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.200,URI="a-9.1.m4s?token=x"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="a-9.2.m4s"
`

func TestPartLiveTimes(t *testing.T) {
	at := func(ms int) time.Time {
		return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(ms) * time.Millisecond)
	}
	tests := []struct {
		name     string
		from, to string // an edit of llPlaylist
		want     map[string]time.Time
	}{
		{"as served", "", "", map[string]time.Time{
			"a-8.0.m4s": at(2000), "a-8.1.m4s": at(2200), "a-8.2.m4s": at(2360),
			"a-9.0.m4s": at(2400), "a-9.1.m4s?token=x": at(2600),
		}},
		{"pending segment undated", "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.400Z\n", "", map[string]time.Time{
			"a-8.0.m4s": at(2000), "a-8.1.m4s": at(2200), "a-8.2.m4s": at(2360),
		}},
		{"complete segment undated", "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000Z\n", "", map[string]time.Time{
			"a-9.0.m4s": at(2400), "a-9.1.m4s?token=x": at(2600),
		}},
		{"dates of their own, not derived from the previous segment", "02.400Z", "05.000Z", map[string]time.Time{
			"a-8.0.m4s": at(2000), "a-8.1.m4s": at(2200), "a-8.2.m4s": at(2360),
			"a-9.0.m4s": at(5000), "a-9.1.m4s?token=x": at(5200),
		}},
		{"no parts listed", "#EXT-X-PART:", "#EXT-X-NOT-A-PART:", map[string]time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := llPlaylist
			if tt.from != "" {
				text = strings.ReplaceAll(text, tt.from, tt.to)
			}
			pl, err := hlstest.Parse([]byte(text))
			if err != nil {
				t.Fatal(err)
			}
			got := partLiveTimes(pl)
			if !maps.EqualFunc(got, tt.want, time.Time.Equal) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestLatencyHistogram(t *testing.T) {
	msd := func(v ...float64) (out []time.Duration) {
		for _, x := range v {
			out = append(out, time.Duration(x*float64(time.Millisecond)))
		}
		return out
	}
	hundred := make([]float64, 100) // 1..100 ms: nearest rank p50 = 50, p99 = 99
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	tests := []struct {
		name string
		in   []time.Duration
		want Summary
	}{
		{"none", nil, Summary{}},
		{"one", msd(250.4), Summary{N: 1, Min: 250.4, P50: 250.4, P99: 250.4, Max: 250.4}},
		{"1 to 100 ms", msd(hundred...), Summary{N: 100, Min: 1, P50: 51, P99: 100, Max: 100}},
		{"a percentile is its bucket's upper edge", msd(10.2, 10.7, 30), Summary{N: 3, Min: 10.2, P50: 11, P99: 30, Max: 30}},
		{"negative counts at the bottom", msd(-5, 200, 300), Summary{N: 3, Min: -5, P50: 200.0 + 1, P99: 300, Max: 300}},
		{"past the last bucket", msd(100, 90_000, 120_000), Summary{N: 3, Min: 100, P50: 120_000, P99: 120_000, Max: 120_000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newLatencyHistogram()
			for _, d := range tt.in {
				h.add(d)
			}
			got := h.summary()
			near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
			if got.N != tt.want.N || !near(got.Min, tt.want.Min) || !near(got.P50, tt.want.P50) || !near(got.P99, tt.want.P99) || !near(got.Max, tt.want.Max) {
				t.Errorf("%v: got %+v, want %+v", tt.in, got, tt.want)
			}
			h.reset()
			if s := h.summary(); s != (Summary{}) {
				t.Errorf("after reset: %+v", s)
			}
		})
	}
}
