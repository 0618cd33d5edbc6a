package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// PlayerResult is one player's figures over the measurement window.
type PlayerResult struct {
	Index        int            `json:"i"`
	URL          string         `json:"url"`
	Started      bool           `json:"started"`
	Played       bool           `json:"played"` // setup succeeded
	ConnectMs    float64        `json:"connect_ms"`
	TTFFMs       float64        `json:"ttff_ms"` // -1: no frame arrived
	Bytes        uint64         `json:"bytes"`   // in the window
	Kbps         float64        `json:"kbps"`
	Stalls       int            `json:"stalls"`
	MaxGapMs     float64        `json:"max_gap_ms"`
	Disconnected bool           `json:"disconnected"`
	Error        string         `json:"error,omitempty"`
	Violations   map[string]int `json:"violations,omitempty"`
}

// LoadReport sums up the players of one run.
type LoadReport struct {
	Mode           string  `json:"mode"` // fast or full
	WindowSeconds  float64 `json:"window_s"`
	Players        int     `json:"players"`
	Started        int     `json:"started"`
	Played         int     `json:"played"`
	FirstFrame     int     `json:"first_frame"`
	Disconnects    int     `json:"disconnects"`
	Bytes          uint64  `json:"bytes"`
	Stalls         int     `json:"stalls"`
	StalledPlayers int     `json:"stalled_players"`
	// ConnectMs is TCP connect, handshake and the connect command.
	ConnectMs Summary `json:"connect_ms"`
	// TTFFMs runs from the start of the dial to the first frame.
	TTFFMs  Summary        `json:"ttff_ms"`
	Kbps    Summary        `json:"kbps"`
	Errors  map[string]int `json:"errors"`
	Results []PlayerResult `json:"players_detail,omitempty"`
}

// Report computes the overall figures from per-player results; rates use
// window. Connect and first-frame times cover the players that got that
// far, rates the players whose setup succeeded. Errors count setup
// failures, lost connections and stream violations by reason.
func Report(mode string, results []PlayerResult, window time.Duration) *LoadReport {
	r := &LoadReport{Mode: mode, WindowSeconds: window.Seconds(), Players: len(results), Errors: map[string]int{}}
	var conn, ttff, rate []float64
	for i := range results {
		p := &results[i]
		if p.Started {
			r.Started++
		}
		if p.Error != "" {
			r.Errors[p.Error]++
		}
		for v, n := range p.Violations {
			r.Errors["stream/"+v] += n
		}
		if !p.Played {
			continue
		}
		r.Played++
		p.Kbps = kbps(p.Bytes, window)
		r.Bytes += p.Bytes
		conn = append(conn, p.ConnectMs)
		rate = append(rate, p.Kbps)
		if p.TTFFMs >= 0 {
			r.FirstFrame++
			ttff = append(ttff, p.TTFFMs)
		}
		if p.Disconnected {
			r.Disconnects++
		}
		r.Stalls += p.Stalls
		if p.Stalls > 0 {
			r.StalledPlayers++
		}
	}
	r.ConnectMs, r.TTFFMs, r.Kbps = SummaryOf(conn), SummaryOf(ttff), SummaryOf(rate)
	r.Results = results
	return r
}

// Gbps is the rate all players received together.
func (r *LoadReport) Gbps() float64 {
	if r.WindowSeconds <= 0 {
		return 0
	}
	return float64(r.Bytes) * 8 / 1e9 / r.WindowSeconds
}

// ErrorCount is the total of Errors.
func (r *LoadReport) ErrorCount() int {
	n := 0
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// WriteText prints the report for a terminal.
func (r *LoadReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "players      %d started, %d playing, %d with a frame, %d disconnected (%s mode, %.1f s window)\n",
		r.Started, r.Played, r.FirstFrame, r.Disconnects, r.Mode, r.WindowSeconds)
	fmt.Fprintf(w, "connect ms   %s\n", msText(r.ConnectMs, "no player set up"))
	fmt.Fprintf(w, "ttff ms      %s\n", msText(r.TTFFMs, "no player got a frame"))
	if r.Kbps.N == 0 {
		fmt.Fprintf(w, "kbps         - (no player playing)\n")
	} else {
		fmt.Fprintf(w, "kbps         min %.0f  p50 %.0f   total %.3f Gbit/s\n", r.Kbps.Min, r.Kbps.P50, r.Gbps())
	}
	fmt.Fprintf(w, "stalls       %d (%s)\n", r.Stalls, Counted(r.StalledPlayers, "player", "players"))
	fmt.Fprintf(w, "errors       %s\n", r.ErrorsLine())
}

// msText prints a millisecond summary with one precision for all its
// figures (see msPrecision), or "-" and why when it has no sample: zeros
// there would read as instant connects.
func msText(s Summary, none string) string {
	if s.N == 0 {
		return "- (" + none + ")"
	}
	p := msPrecision(s)
	return fmt.Sprintf("p50 %.*f  p99 %.*f  max %.*f", p, s.P50, p, s.P99, p, s.Max)
}

// ErrorsLine lists errors by reason, most frequent first, or "none".
func (r *LoadReport) ErrorsLine() string {
	if len(r.Errors) == 0 {
		return "none"
	}
	keys := slices.SortedFunc(maps.Keys(r.Errors), func(a, b string) int {
		if r.Errors[a] != r.Errors[b] {
			return r.Errors[b] - r.Errors[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, r.Errors[k])
	}
	return strings.Join(parts, " ")
}

// WriteLoadJSON writes a load report, per-player results included.
func WriteLoadJSON(w io.Writer, r *LoadReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
