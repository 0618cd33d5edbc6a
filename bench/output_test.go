package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func sampleResults() []Result {
	var out []Result
	for _, n := range []int{500, 1000} {
		for i, name := range []string{"netpoll-msg", "netpoll-100ms"} {
			r := Result{Config: name, Players: n, Load: &LoadReport{Played: n, Bytes: uint64(n) * 2_300_000, WindowSeconds: 20, Errors: map[string]int{}}}
			r.fill(float64(n)/100/float64(i+1), 20e9, 50<<20, 60<<20, SyscallFigures{Method: "bpf", Counted: true, Total: uint64(n * 100 / (i + 1)), Writev: uint64(n * 90 / (i + 1))})
			out = append(out, r)
		}
	}
	out = append(out, Result{Config: "broken", Players: 1000, Error: "server exited"})
	return out
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	WriteTable(&b, sampleResults())
	out := b.String()
	for _, want := range []string{"netpoll-msg@500", "netpoll-100ms@1000", "broken@1000", "server CPU-s per Gbit", "failed",
		"syscalls counted by: bpf", "broken @1000 failed: server exited"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(out, "\n")
	if len(lines) < len(tableRows)+1 {
		t.Fatalf("%d lines for %d rows", len(lines), len(tableRows))
	}
	if w := len(lines[0]); len(lines[1]) != w {
		t.Errorf("columns not aligned:\n%s\n%s", lines[0], lines[1])
	}
}

func TestWriteSVG(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSVG(&b, sampleResults()); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML, one bar per configuration, player count and panel
	// (the failed run draws none), and every configuration in the legend.
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	rects := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	const background, legend, bars = 1, 3, 2 * 4
	if rects != background+legend+bars {
		t.Errorf("%d rects, want %d", rects, background+legend+bars)
	}
	for _, want := range []string{"netpoll-msg", "netpoll-100ms", "broken", "1000 players", "CPU-seconds / Gbit"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("svg lacks %q", want)
		}
	}
}

func TestRunReportJSON(t *testing.T) {
	cfg := RunConfig{Configs: Presets[:2], Players: []int{500, 1000}}
	var b bytes.Buffer
	if err := NewRunReport(cfg, sampleResults()).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back RunReport
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != 5 || back.Results[1].CPUPerGbit == 0 || back.Host.CPUs == 0 || back.Stream.Bitrate == 0 || back.WindowS != 20 {
		t.Errorf("round trip lost figures: %+v", back)
	}
}

func TestNiceStep(t *testing.T) {
	for raw, want := range map[float64]float64{0.013: 0.02, 0.5: 0.5, 7: 10, 120: 200, 0: 1, 30000: 50000} {
		if got := niceStep(raw); got != want {
			t.Errorf("niceStep(%v) = %v, want %v", raw, got, want)
		}
	}
}

func TestCounted(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want string
	}{{0, "0 pulls"}, {1, "1 pull"}, {2, "2 pulls"}, {1000, "1000 pulls"}} {
		if got := Counted(tt.n, "pull", "pulls"); got != tt.want {
			t.Errorf("Counted(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// TestMsSpread checks that p50, p99 and max share one precision, so the
// max never prints below the p99 (it was rounded to whole milliseconds
// while the others had tenths: "0.5/1.2/1").
func TestMsSpread(t *testing.T) {
	tests := []struct {
		s    Summary
		want string
	}{
		{Summary{N: 10, P50: 0.5, P99: 1.2, Max: 1.24}, "0.5/1.2/1.2"},
		{Summary{N: 10, P50: 0.8, P99: 6.4, Max: 6.44}, "0.8/6.4/6.4"},
		{Summary{N: 10, P50: 12.34, P99: 98.76, Max: 99.9}, "12.3/98.8/99.9"},
		{Summary{N: 10, P50: 40.2, P99: 99.96, Max: 180.4}, "40/100/180"},
		{Summary{N: 1, P50: 3, P99: 3, Max: 3}, "3.0/3.0/3.0"},
		{Summary{}, "-"},
	}
	for _, tt := range tests {
		if got := msSpread(tt.s); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.s, got, tt.want)
		}
	}
}

// TestWriteTableImpossibleFigures checks the cells that have no figure
// to show: nothing delivered (CPU per Gbit and syscalls per GB would be
// 0, as if free), no first frame (0 ms would read as instant), and RSS
// below the idle server's (a negative growth per player), which is also
// said under the table.
func TestWriteTableImpossibleFigures(t *testing.T) {
	r := Result{Config: "netpoll-msg", Players: 100, BaseRSSBytes: 60 << 20,
		Load: &LoadReport{Played: 100, WindowSeconds: 20, Errors: map[string]int{}, ConnectMs: Summary{N: 100, P50: 1, P99: 2, Max: 3}}}
	r.fill(1.5, 20e9, 50<<20, 70<<20, SyscallFigures{Method: "bpf", Counted: true, Total: 1000})
	var b bytes.Buffer
	WriteTable(&b, []Result{r})
	cell := func(label string) string {
		for line := range strings.Lines(b.String()) {
			// The table aligns right, labels included.
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), strings.TrimSpace(label)); ok {
				return strings.TrimSpace(rest)
			}
		}
		t.Fatalf("no %q row:\n%s", label, b.String())
		return ""
	}
	for label, want := range map[string]string{
		"server CPU-s per Gbit":      "-",
		"syscalls per GB":            "-",
		"syscalls/s":                 "50",
		"  over the idle server":     "-",
		"first frame ms p50/p99/max": "-",
		"connect ms p50/p99/max":     "1.0/2.0/3.0",
	} {
		if got := cell(label); got != want {
			t.Errorf("%s: %q, want %q", label, got, want)
		}
	}
	if want := "netpoll-msg @100: RSS with players 50.0 MiB, under the idle server's 60.0 MiB"; !strings.Contains(b.String(), want) {
		t.Errorf("lacks %q:\n%s", want, b.String())
	}
}

func TestLoadReportWriteText(t *testing.T) {
	tests := []struct {
		name      string
		r         LoadReport
		want, not []string
	}{
		{"playing", LoadReport{Played: 2, WindowSeconds: 10, Bytes: 2_500_000, ConnectMs: Summary{N: 2, P50: 0.5, P99: 1.24, Max: 1.24},
			TTFFMs: Summary{N: 2, P50: 80, P99: 120.4, Max: 120.4}, Kbps: Summary{N: 2, Min: 990, P50: 1000}},
			[]string{"connect ms   p50 0.5  p99 1.2  max 1.2", "ttff ms      p50 80  p99 120  max 120", "kbps         min 990  p50 1000   total 0.002 Gbit/s"}, nil},
		{"nobody played", LoadReport{Players: 5, Started: 5, WindowSeconds: 10, Errors: map[string]int{"dial": 5}},
			[]string{"connect ms   - (no player set up)", "ttff ms      - (no player got a frame)", "kbps         - (no player playing)", "dial=5"},
			[]string{"p50", "max 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			tt.r.WriteText(&b)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("lacks %q:\n%s", w, b.String())
				}
			}
			for _, n := range tt.not {
				if strings.Contains(b.String(), n) {
					t.Errorf("has %q:\n%s", n, b.String())
				}
			}
		})
	}
}
