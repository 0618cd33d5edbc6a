package bench

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
)

// run is a successful result of config in round with the given CPU per
// Gbit and syscalls per GB.
func run(config string, round int, cpuPerGbit, sysPerGB float64) Result {
	return Result{Config: config, Players: 1000, Round: round, CPUPerGbit: cpuPerGbit,
		SyscallsPerGB: sysPerGB, Syscalls: SyscallFigures{Counted: true},
		Load: &LoadReport{Played: 1000, Errors: map[string]int{}}}
}

func TestSummarizeTakesTheMedianRun(t *testing.T) {
	results := []Result{
		run("uring-msg", 1, 0.50, 1), run("netpoll-msg", 1, 0.70, 1),
		run("netpoll-msg", 2, 0.90, 1), run("uring-msg", 2, 0.40, 1),
		run("uring-msg", 3, 0.45, 1), {Config: "netpoll-msg", Players: 1000, Round: 3, Error: "server exited"},
	}
	sums := Summarize(results)
	if len(sums) != 2 || sums[0].Config != "uring-msg" || sums[1].Config != "netpoll-msg" {
		t.Fatalf("groups: %+v", sums)
	}
	if u := sums[0]; u.CPUPerGbit != 0.45 || u.Round != 3 || u.CPUMin != 0.40 || u.CPUMax != 0.50 || u.Runs != 3 {
		t.Errorf("uring summary %+v, want the 0.45 run of round 3 within 0.40–0.50", u)
	}
	// The failed run counts as a run but not in the median or the range.
	if n := sums[1]; n.CPUPerGbit != 0.70 || n.CPUMax != 0.90 || n.Runs != 3 {
		t.Errorf("netpoll summary %+v", n)
	}
	allFailed := Summarize([]Result{{Config: "x", Error: "a"}, {Config: "x", Error: "b"}})
	if len(allFailed) != 1 || allFailed[0].Error != "a" {
		t.Errorf("all failed: %+v", allFailed)
	}
}

func TestComparePairsRunsOfTheSameRound(t *testing.T) {
	results := []Result{
		run("uring-msg", 1, 0.40, 10_000), run("netpoll-msg", 1, 0.80, 500_000), run("floor-msg", 1, 0.50, 100_000),
		// Round 2: the machine got slower for everyone; a ratio of
		// medians would mix rounds, a per-round ratio does not.
		run("floor-msg", 2, 0.90, 100_000), run("netpoll-msg", 2, 1.60, 500_000), run("uring-msg", 2, 0.72, 10_000),
		run("uring-100ms", 1, 0.10, 1000), // nothing to pair with
	}
	got := Compare(results)
	want := []struct {
		a, b     string
		cpu      float64
		min, max float64
		sys      float64
	}{
		{"uring-msg", "netpoll-msg", 0.475, 0.45, 0.50, 50},
		{"uring-msg", "floor-msg", 0.80, 0.80, 0.80, 10},
		{"netpoll-msg", "floor-msg", (1.6 + 1.6/0.9) / 2, 1.6, 1.6 / 0.9, 0.2},
	}
	if len(got) != len(want) {
		t.Fatalf("%d ratios, want %d: %+v", len(got), len(want), got)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	for i, w := range want {
		g := got[i]
		if g.A != w.a || g.B != w.b || !near(g.CPU, w.cpu) || !near(g.CPUMin, w.min) || !near(g.CPUMax, w.max) || !near(g.Syscalls, w.sys) || g.Rounds != 2 || g.Setting != "msg" {
			t.Errorf("ratio %d: %+v, want %+v", i, g, w)
		}
	}
	var b bytes.Buffer
	WriteRatios(&b, got)
	for _, line := range []string{"uring-msg / netpoll-msg", "0.47×", "(0.45–0.50, 2 rounds)", "50× fewer syscalls per GB", "uring-msg / floor-msg"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("ratios lack %q:\n%s", line, b.String())
		}
	}
	if strings.Contains(b.String(), "@1000") {
		t.Errorf("one player count needs no @N:\n%s", b.String())
	}
	if _, last, _ := strings.Cut(b.String(), "netpoll-msg / floor-msg"); strings.Contains(last, "fewer") {
		t.Errorf("netpoll over floor makes 5× more calls, not fewer:\n%s", b.String())
	}
	var two bytes.Buffer
	WriteRatios(&two, []Ratio{{A: "uring-msg", B: "floor-msg", CPU: 0.7, Players: 500}, {A: "uring-msg", B: "floor-msg", CPU: 0.8, Players: 1000}})
	if !strings.Contains(two.String(), "0.70× @500") || !strings.Contains(two.String(), "0.80× @1000") {
		t.Errorf("several player counts need @N:\n%s", two.String())
	}
}

func TestRoundOrderAlternates(t *testing.T) {
	cs, _ := LookupPreset("msg")
	names := func(cs []ServerConfig) (out []string) {
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	first, second := names(roundOrder(cs, 1)), names(roundOrder(cs, 2))
	if !slices.Equal(first, []string{"netpoll-msg", "uring-msg", "floor-msg"}) || !slices.Equal(second, []string{"floor-msg", "uring-msg", "netpoll-msg"}) {
		t.Errorf("round 1 %q, round 2 %q", first, second)
	}
	if names(cs)[0] != "netpoll-msg" {
		t.Error("roundOrder reversed the caller's slice")
	}
}

func TestWriteTableWithRounds(t *testing.T) {
	results := []Result{run("uring-msg", 1, 0.50, 1), run("uring-msg", 2, 0.40, 1), run("uring-msg", 3, 0.45, 1)}
	var b bytes.Buffer
	WriteTable(&b, results)
	out := b.String()
	if !strings.Contains(out, "min–max (runs)") || !strings.Contains(out, "0.400–0.500 (3)") {
		t.Errorf("table lacks the spread row:\n%s", out)
	}
	if i := strings.Index(out, cpuPerGbitLabel); i < 0 || !strings.HasPrefix(strings.TrimSpace(strings.SplitN(out[i:], "\n", 3)[1]), "min–max (runs)") {
		t.Errorf("the spread row should follow %q:\n%s", cpuPerGbitLabel, out)
	}
	if strings.Count(out, "uring-msg") != 1 {
		t.Errorf("three runs of one configuration should be one column:\n%s", out)
	}
}

// TestCompareFLVPlayersWithRTMP: the flv group's HTTP-FLV and WS-FLV
// columns are each set against the RTMP players of the same flush
// setting, at every setting the group has.
func TestCompareFLVPlayersWithRTMP(t *testing.T) {
	group, err := LookupPreset("flv")
	if err != nil {
		t.Fatal(err)
	}
	var results []Result
	for i, sc := range group {
		results = append(results, run(sc.Name, 1, 0.10+float64(i)/100, 1000))
	}
	got := map[string]bool{}
	for _, r := range Compare(results) {
		got[r.A+" / "+r.B] = true
	}
	for _, setting := range []string{"msg", "40ms", "100ms", "350ms"} {
		for _, pair := range []string{"httpflv-%s / uring-%s", "wsflv-%s / uring-%s"} {
			if want := strings.ReplaceAll(pair, "%s", setting); !got[want] {
				t.Errorf("no ratio %s in %v", want, got)
			}
		}
	}
	if len(got) != 8 {
		t.Errorf("%d ratios, want 8 (two per setting): %v", len(got), got)
	}
}
