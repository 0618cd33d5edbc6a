package bench

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
)

// RunSummary stands for one configuration at one player count over its runs:
// the run with the median CPU per Gbit, and the range the runs spanned.
type RunSummary struct {
	Result
	Runs           int
	CPUMin, CPUMax float64 // CPU-s per Gbit over the successful runs
}

// Summarize groups the runs of each configuration and player count, in
// the order they first appear. A group whose runs all failed is
// represented by its first failure.
func Summarize(results []Result) []RunSummary {
	type key struct {
		config  string
		players int
	}
	var order []key
	groups := map[key][]Result{}
	for _, r := range results {
		k := key{r.Config, r.Players}
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]RunSummary, 0, len(order))
	for _, k := range order {
		out = append(out, summarize(groups[k]))
	}
	return out
}

func summarize(runs []Result) RunSummary {
	var ok []Result
	for _, r := range runs {
		if r.Error == "" && r.Load != nil {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		return RunSummary{Result: runs[0], Runs: len(runs)}
	}
	slices.SortStableFunc(ok, func(a, b Result) int { return cmp.Compare(a.CPUPerGbit, b.CPUPerGbit) })
	return RunSummary{Result: ok[(len(ok)-1)/2], Runs: len(runs), CPUMin: ok[0].CPUPerGbit, CPUMax: ok[len(ok)-1].CPUPerGbit}
}

// comparedPairs are the configuration kinds compared (the name's part
// before the first dash), in the order printed: the transports with each
// other and the floor, and the browser formats' players (on io_uring)
// with RTMP players of the same transport.
var comparedPairs = [][2]string{{"uring", "netpoll"}, {"uring", "floor"}, {"netpoll", "floor"},
	{"httpflv", "uring"}, {"wsflv", "uring"}}

// Ratio is one configuration's CPU per Gbit over another's, taken run by
// run within the same round (the same minutes of the same machine), and
// the system calls per GB the other made for each of this one's.
type Ratio struct {
	Setting  string // the name's part after the first dash: msg, 40ms…
	Players  int
	A, B     string // configuration names: A over B
	CPU      float64
	CPUMin   float64
	CPUMax   float64
	Rounds   int
	Syscalls float64 // B's syscalls per GB over A's (0 when not counted)
}

// Compare pairs configurations of the same flush setting ("uring-msg"
// with "netpoll-msg" and "floor-msg") at the same player count and gives
// the median of their per-round CPU per Gbit ratios.
func Compare(results []Result) []Ratio {
	type key struct {
		kind, setting string
		players       int
	}
	byRound := map[key]map[int]*Result{}
	var settings []string
	for i := range results {
		r := &results[i]
		kind, setting, ok := strings.Cut(r.Config, "-")
		if !ok || r.Error != "" || r.Load == nil || r.CPUPerGbit == 0 {
			continue
		}
		k := key{kind, setting, r.Players}
		if byRound[k] == nil {
			byRound[k] = map[int]*Result{}
		}
		byRound[k][r.Round] = r
		if !slices.Contains(settings, setting) {
			settings = append(settings, setting)
		}
	}
	var players []int
	for k := range byRound {
		if !slices.Contains(players, k.players) {
			players = append(players, k.players)
		}
	}
	slices.Sort(players)
	var out []Ratio
	for _, n := range players {
		for _, setting := range settings {
			for _, pair := range comparedPairs {
				a, b := byRound[key{pair[0], setting, n}], byRound[key{pair[1], setting, n}]
				if r, ok := ratioOf(a, b); ok {
					r.Setting, r.Players = setting, n
					r.A, r.B = pair[0]+"-"+setting, pair[1]+"-"+setting
					out = append(out, r)
				}
			}
		}
	}
	return out
}

func ratioOf(a, b map[int]*Result) (Ratio, bool) {
	var cpu, sys []float64
	for round, ra := range a {
		rb := b[round]
		if rb == nil {
			continue
		}
		cpu = append(cpu, ra.CPUPerGbit/rb.CPUPerGbit)
		if ra.Syscalls.Counted && rb.Syscalls.Counted && ra.SyscallsPerGB > 0 {
			sys = append(sys, rb.SyscallsPerGB/ra.SyscallsPerGB)
		}
	}
	if len(cpu) == 0 {
		return Ratio{}, false
	}
	slices.Sort(cpu)
	r := Ratio{CPU: median(cpu), CPUMin: cpu[0], CPUMax: cpu[len(cpu)-1], Rounds: len(cpu)}
	if len(sys) == len(cpu) {
		slices.Sort(sys)
		r.Syscalls = median(sys)
	}
	return r, true
}

// median of sorted values; the mean of the middle two for an even count.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// WriteRatios prints the comparisons under the table.
func WriteRatios(w io.Writer, ratios []Ratio) {
	if len(ratios) == 0 {
		return
	}
	width := 0
	for _, r := range ratios {
		width = max(width, len(r.A)+len(r.B)+3)
	}
	manyCounts := slices.ContainsFunc(ratios, func(r Ratio) bool { return r.Players != ratios[0].Players })
	fmt.Fprintln(w, "CPU per Gbit, one configuration over another in the same round (median of rounds, min–max):")
	for _, r := range ratios {
		line := fmt.Sprintf("  %-*s  %.2f×", width, r.A+" / "+r.B, r.CPU)
		if r.Rounds > 1 {
			line += fmt.Sprintf(" (%.2f–%.2f, %d rounds)", r.CPUMin, r.CPUMax, r.Rounds)
		}
		// Below 2× the difference in system calls is not what tells the
		// two apart.
		if r.Syscalls >= 2 {
			line += fmt.Sprintf("; %.0f× fewer syscalls per GB", r.Syscalls)
		}
		if manyCounts {
			line += fmt.Sprintf(" @%d", r.Players)
		}
		fmt.Fprintln(w, line)
	}
}
