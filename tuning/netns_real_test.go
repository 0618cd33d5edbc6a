package tuning

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// netnsReport is what the helper prints: the plan it made (before acting),
// the error of the action, and the value of every planned file afterwards.
type netnsReport struct {
	Plan   *Plan             `json:"plan"`
	Err    string            `json:"err,omitempty"`
	Values map[string]string `json:"values"`
}

// netnsHelper runs "plan|apply|revert DEV STATE" and prints a netnsReport.
func netnsHelper(spec string) int {
	f := strings.Fields(spec)
	if len(f) != 3 {
		fmt.Fprintf(os.Stderr, "%s=%q: want VERB DEV STATE\n", netnsHelperEnv, spec)
		return 2
	}
	verb, dev, state := f[0], f[1], f[2]
	rep := netnsReport{Values: map[string]string{}}
	p, err := NewPlan(Options{Devices: []string{dev}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rep.Plan = p
	switch verb {
	case "apply":
		_, err = Apply(p, state)
	case "revert":
		_, err = Revert("/", state)
	}
	if err != nil {
		rep.Err = err.Error()
	}
	for _, c := range p.Changes {
		if v, err := (tree{}).readTrim(c.Path); err == nil {
			rep.Values[c.Path] = v
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// inNetNS runs the helper in ns and decodes its report.
func inNetNS(t *testing.T, ns, verb, dev, state string) netnsReport {
	t.Helper()
	r := execInNetNS(t, ns, []string{netnsHelperEnv + "=" + verb + " " + dev + " " + state}, os.Args[0])
	if r.code != 0 {
		t.Fatalf("%s in %s: exit %d: %s", verb, ns, r.code, r.stderr)
	}
	var rep netnsReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%s in %s: %v: %s", verb, ns, err, r.stdout)
	}
	return rep
}

// TestRealNetNSApplyRevert runs tune inside a real network namespace, as
// "ip netns exec NS bbllive tune apply -dev vb0" does: the plan knows it is
// not the initial namespace, apply succeeds for the per-namespace sysctls
// and the veth's queues and skips the host-global sysctls (which the kernel
// shows read-only or hides there), the host's values stay untouched, and
// revert restores the namespace.
func TestRealNetNSApplyRevert(t *testing.T) {
	needRootAndIP(t)
	ns, dev := netnsWithVeth(t)
	hostPaths := []string{sysctlPath("net.core.somaxconn"), sysctlPath("net.core.wmem_max"), sysctlPath("net.ipv4.tcp_wmem")}
	host := map[string]string{}
	for _, p := range hostPaths {
		v, err := tree{}.readTrim(p)
		if err != nil {
			t.Fatal(err)
		}
		host[p] = v
	}
	state := filepath.Join(t.TempDir(), "tune-state.json")

	before := inNetNS(t, ns, "plan", dev, state)
	p := before.Plan
	if p.NetNS.Initial {
		t.Fatalf("plan inside %s thinks it is the initial namespace: %+v", ns, p.NetNS)
	}
	for _, w := range p.Warnings {
		if strings.Contains(w, "kernel without RFS") {
			t.Errorf("warning blames the kernel for the namespace: %q", w)
		}
	}
	skipped := map[string]bool{}
	for _, c := range p.Unwritable() {
		skipped[c.Target] = true
	}
	for _, name := range hostGlobalNet {
		if !skipped[name] {
			t.Errorf("%s not skipped as host-global inside the namespace", name)
		}
	}
	kinds := map[Scope]int{}
	for _, c := range p.Pending() {
		kinds[c.Scope]++
		if c.Scope == ScopeInitNetNS {
			t.Errorf("host-global %s planned inside the namespace", c.Target)
		}
	}
	if kinds[ScopeNetNS] == 0 || kinds[ScopeDevice] < 8 {
		t.Fatalf("pending by scope %v: want per-namespace sysctls and the veth's queues", kinds)
	}
	var table strings.Builder
	if err := p.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("plan inside %s:\n%s", ns, table.String())

	// Whatever fails below, the state file is reverted in the namespace
	// before it is deleted.
	t.Cleanup(func() {
		if _, err := os.Stat(state); err == nil {
			if rep := inNetNS(t, ns, "revert", dev, state); rep.Err != "" {
				t.Errorf("cleanup revert: %s", rep.Err)
			}
		}
	})
	applied := inNetNS(t, ns, "apply", dev, state)
	if applied.Err != "" {
		t.Fatalf("apply inside %s: %s", ns, applied.Err)
	}
	sys := tree{}
	for _, c := range p.Pending() {
		got := applied.Values[c.Path]
		want := c.New
		if c.Kind == KindRPS || c.Kind == KindXPS {
			g, _ := ParseCPUMask(got)
			w, _ := ParseCPUMask(want)
			if g.Equal(w) {
				continue
			}
		}
		if strings.Join(strings.Fields(got), " ") != want {
			t.Errorf("in %s after apply %s = %q, want %q", ns, c.Path, got, want)
		}
	}
	for _, p := range hostPaths {
		if got, _ := sys.readTrim(p); got != host[p] {
			t.Errorf("host's %s changed by apply in a namespace: %q, was %q", p, got, host[p])
		}
	}

	reverted := inNetNS(t, ns, "revert", dev, state)
	if reverted.Err != "" {
		t.Fatalf("revert inside %s: %s", ns, reverted.Err)
	}
	for path, want := range before.Values {
		if got := reverted.Values[path]; got != want {
			t.Errorf("in %s after revert %s = %q, want %q", ns, path, got, want)
		}
	}
	if _, err := os.Stat(state); err == nil {
		t.Error("state file kept after a complete revert")
	}
}
