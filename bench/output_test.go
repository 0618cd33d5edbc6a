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
