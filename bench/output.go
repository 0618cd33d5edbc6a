package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bbllive/bbllive/bench/synth"
)

// row is one line of the comparison table: a label and how to print a
// result's figure.
type row struct {
	label string
	cell  func(r *Result) string
}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }

// msSpread prints a p50/p99/max of milliseconds with one precision for
// all three, so rounding keeps their order on screen (a max printed with
// fewer decimals than the p99 could show below it): tenths while the max
// is under 100 ms, whole milliseconds from there. No sample: "-".
func msSpread(s Summary) string {
	if s.N == 0 {
		return "-"
	}
	prec := msPrecision(s)
	return fmt.Sprintf("%.*f/%.*f/%.*f", prec, s.P50, prec, s.P99, prec, s.Max)
}

// msPrecision is the decimals every figure of a millisecond summary is
// printed with: tenths under 100 ms, whole milliseconds from there.
func msPrecision(s Summary) int {
	if s.Max >= 100 {
		return 0
	}
	return 1
}

func countedPerSec(r *Result, n uint64) string {
	if !r.Syscalls.Counted {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(n)/r.Load.WindowSeconds)
}

const cpuPerGbitLabel = "server CPU-s per Gbit"

var tableRows = []row{
	{"players playing/asked", func(r *Result) string { return fmt.Sprintf("%d/%d", r.Load.Played, r.Players) }},
	{"delivered Mbit/s", func(r *Result) string { return fmt.Sprintf("%.0f", r.Gbps*1000) }},
	{"server CPU % of a core", func(r *Result) string { return f1(r.ServerCPUPercent) }},
	{"server CPU % per 1000 players", func(r *Result) string { return f1(r.CPUPer1000) }},
	{cpuPerGbitLabel, func(r *Result) string {
		if r.Bytes == 0 { // CPU spent on nothing delivered: no figure, not 0
			return "-"
		}
		return fmt.Sprintf("%.3f", r.CPUPerGbit)
	}},
	{"syscalls/s", func(r *Result) string { return countedPerSec(r, r.Syscalls.Total) }},
	{"syscalls per GB", func(r *Result) string {
		if !r.Syscalls.Counted || r.Bytes == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f", r.SyscallsPerGB)
	}},
	{"io_uring_enter/s", func(r *Result) string { return countedPerSec(r, r.Syscalls.IOUringEnter) }},
	{"writev/s", func(r *Result) string { return countedPerSec(r, r.Syscalls.Writev) }},
	{"write/s", func(r *Result) string { return countedPerSec(r, r.Syscalls.Write) }},
	{"sendmsg/s", func(r *Result) string { return countedPerSec(r, r.Syscalls.Sendmsg) }},
	{"server RSS MiB (peak)", func(r *Result) string {
		return fmt.Sprintf("%.0f (%.0f)", float64(r.RSSBytes)/(1<<20), float64(r.PeakRSSBytes)/(1<<20))
	}},
	{"RSS KiB per player", func(r *Result) string { return fmt.Sprintf("%.0f", float64(r.RSSBytes)/1024/float64(r.Players)) }},
	{"  over the idle server", func(r *Result) string {
		if r.RSSBytes < r.BaseRSSBytes { // said under the table
			return "-"
		}
		return fmt.Sprintf("%.1f", float64(r.RSSBytes-r.BaseRSSBytes)/1024/float64(r.Players))
	}},
	{"connect ms p50/p99/max", func(r *Result) string { return msSpread(r.Load.ConnectMs) }},
	{"first frame ms p50/p99/max", func(r *Result) string { return msSpread(r.Load.TTFFMs) }},
	{"player kbps min/p50", func(r *Result) string { return fmt.Sprintf("%.0f/%.0f", r.Load.Kbps.Min, r.Load.Kbps.P50) }},
	{"stalls (players)", func(r *Result) string { return fmt.Sprintf("%d (%d)", r.Load.Stalls, r.Load.StalledPlayers) }},
	{"disconnects", func(r *Result) string { return fmt.Sprint(r.Load.Disconnects) }},
	{"errors", func(r *Result) string { return fmt.Sprint(r.Load.ErrorCount()) }},
	{"load generator CPU %", func(r *Result) string { return f1(r.GenCPUPercent) }},
	{"publisher CPU %", func(r *Result) string { return f1(r.PubCPUPercent) }},
}

// WriteTable prints the results side by side, one column per
// configuration and player count (its median run when there were several),
// then the counting method, any errors, and the same-round comparisons.
func WriteTable(w io.Writer, results []Result) {
	sums := Summarize(results)
	multi, repeated := false, false
	for _, s := range sums {
		multi = multi || s.Players != sums[0].Players
		repeated = repeated || s.Runs > 1
	}
	rows := tableRows
	if repeated {
		// The spread goes right under the figure it is the spread of.
		i := 1 + slices.IndexFunc(rows, func(r row) bool { return r.label == cpuPerGbitLabel })
		rows = slices.Insert(slices.Clone(rows), i, spreadRow(sums))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "\t")
	for _, s := range sums {
		name := s.Config
		if multi {
			name += fmt.Sprintf("@%d", s.Players)
		}
		fmt.Fprintf(tw, "%s\t", name)
	}
	fmt.Fprintln(tw)
	for _, rw := range rows {
		fmt.Fprintf(tw, "%s\t", rw.label)
		for i := range sums {
			r := &sums[i].Result
			if r.Load == nil || r.Error != "" {
				fmt.Fprint(tw, "failed\t")
				continue
			}
			fmt.Fprintf(tw, "%s\t", rw.cell(r))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	methods := map[string]bool{}
	for _, r := range results {
		if r.Error == "" && !methods[r.Syscalls.Method] {
			methods[r.Syscalls.Method] = true
			fmt.Fprintf(w, "syscalls counted by: %s\n", describeMethod(r.Syscalls.Method))
		}
	}
	for _, r := range results {
		at := fmt.Sprintf("@%d", r.Players)
		if repeated {
			at += fmt.Sprintf(" round %d", r.Round)
		}
		if r.Error != "" {
			fmt.Fprintf(w, "%s %s failed: %s\n", r.Config, at, r.Error)
			continue
		}
		if r.Load.ErrorCount() > 0 {
			fmt.Fprintf(w, "%s %s errors: %s\n", r.Config, at, r.Load.ErrorsLine())
		}
		if r.RSSBytes < r.BaseRSSBytes {
			fmt.Fprintf(w, "%s %s: RSS with players %.1f MiB, under the idle server's %.1f MiB (memory returned to the kernel meanwhile): no per-player growth measured\n",
				r.Config, at, float64(r.RSSBytes)/(1<<20), float64(r.BaseRSSBytes)/(1<<20))
		}
	}
	WriteRatios(w, Compare(results))
}

// spreadRow shows how far the runs of each column spread: the figures
// above and below it are the median run's.
func spreadRow(sums []RunSummary) row {
	spread := map[*Result]string{}
	for i := range sums {
		s := &sums[i]
		spread[&s.Result] = fmt.Sprintf("%.3f–%.3f (%d)", s.CPUMin, s.CPUMax, s.Runs)
	}
	return row{"  min–max (runs)", func(r *Result) string { return spread[r] }}
}

func describeMethod(m string) string {
	switch {
	case strings.HasPrefix(m, "bpf"):
		return m + " — the bpf package's counter on the raw_syscalls:sys_enter tracepoint"
	case strings.HasPrefix(m, "perf"):
		return m + " — perf stat -e raw_syscalls:sys_enter"
	}
	return m
}

// RunReport is what the harness writes as JSON.
type RunReport struct {
	RunInfo
	Publishers int            `json:"publishers"`
	LoadMode   string         `json:"load_mode"`
	Configs    []ServerConfig `json:"configs"`
	Results    []Result       `json:"results"`
}

// RunInfo says when, where and with what stream and timing a benchmark
// ran; the reports start with it.
type RunInfo struct {
	Time    time.Time    `json:"time"`
	Host    HostInfo     `json:"host"`
	Stream  synth.Config `json:"stream"` // its defaults filled in
	WarmupS float64      `json:"warmup_s"`
	WindowS float64      `json:"window_s"`
}

// newRunInfo describes a run starting now on this machine.
func newRunInfo(stream synth.Config, warmup, window time.Duration) RunInfo {
	return RunInfo{Time: time.Now().UTC(), Host: thisHost(), Stream: streamWithDefaults(stream),
		WarmupS: warmup.Seconds(), WindowS: window.Seconds()}
}

// HostInfo identifies the machine the figures come from.
type HostInfo struct {
	CPUs   int    `json:"cpus"`
	Kernel string `json:"kernel"`
	GoArch string `json:"goarch"`
}

// NewRunReport gathers a run's configuration and results.
func NewRunReport(cfg RunConfig, results []Result) *RunReport {
	cfg.withDefaults()
	mode := "fast"
	if cfg.Load.Full {
		mode = "full"
	}
	return &RunReport{
		RunInfo:    newRunInfo(cfg.Stream, cfg.Warmup, cfg.Window),
		Publishers: cfg.Publishers, LoadMode: mode, Configs: cfg.Configs, Results: results,
	}
}

// thisHost describes the machine the harness runs on.
func thisHost() HostInfo {
	var uts unix.Utsname
	unix.Uname(&uts)
	return HostInfo{CPUs: runtime.NumCPU(), Kernel: unix.ByteSliceToString(uts.Release[:]), GoArch: runtime.GOARCH}
}

// streamWithDefaults is sc as the publisher sends it, its zero fields
// filled with the synthetic stream's defaults.
func streamWithDefaults(sc synth.Config) synth.Config {
	if s, err := synth.New(sc); err == nil {
		return s.Config()
	}
	return sc
}

// WriteJSON writes the report, indented.
func (rr *RunReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rr)
}
