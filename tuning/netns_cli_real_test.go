package tuning

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// hostSysctlsSeen are the sysctls whose host values the command, run inside
// a namespace, must leave alone: the host-global ones it has to skip and the
// host's own copies of those the namespace has its own of.
var hostSysctlsSeen = []string{
	"net.core.wmem_max", "net.core.rmem_max", "net.core.netdev_max_backlog", "net.core.rps_sock_flow_entries",
	"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_wmem", "net.ipv4.tcp_rmem",
	"net.ipv4.ip_local_port_range", "net.ipv4.tcp_notsent_lowat",
	// Machine-wide and writable from any namespace: apply may raise it,
	// revert must bring it back.
	"fs.file-max",
}

// TestRealNetNSCommand runs the bbllive binary as a user would, with
// "ip netns exec NS bbllive tune plan|apply|revert" in a fresh namespace
// holding a moved-in 4-queue veth: plan names the host-global sysctls as
// set on the host only (never "kernel without RFS"), apply writes the
// namespace's sysctls and the veth's queues and skips the host-global ones
// with the sysctl -w to run on the host, the host's values stay as they
// were, and revert restores every byte apply replaced.
func TestRealNetNSCommand(t *testing.T) {
	needRootAndIP(t)
	bin := bblliveBinary(t)
	ns, dev := netnsWithVeth(t)
	hostBefore := readHostSysctls(t)

	plan := execInNetNS(t, ns, nil, bin, "tune", "plan", "-dev", dev)
	if plan.code != 0 {
		t.Fatalf("tune plan in %s: exit %d: %s%s", ns, plan.code, plan.stdout, plan.stderr)
	}
	t.Logf("tune plan -dev %s in %s:\n%s", dev, ns, plan.stdout)
	checkHostGlobalNamed(t, "plan", plan.stdout)
	if !strings.Contains(plan.stdout, "note: not the initial network namespace") {
		t.Errorf("plan does not say it runs outside the initial network namespace:\n%s", plan.stdout)
	}

	p := planJSONInNetNS(t, ns, bin, dev)
	pending := checkNetNSPlan(t, p, dev)
	paths := changePaths(pending)
	nsBefore := readInNetNS(t, ns, paths)

	state := filepath.Join(t.TempDir(), "tune-state.json")
	// Whatever fails below, what apply wrote is reverted before the
	// namespace goes (fs.file-max would outlive it).
	t.Cleanup(func() {
		if _, err := os.Stat(state); err == nil {
			if r := execInNetNS(t, ns, nil, bin, "tune", "revert", "-state", state); r.code != 0 {
				t.Errorf("cleanup revert: exit %d: %s", r.code, r.stderr)
			}
		}
	})
	apply := execInNetNS(t, ns, nil, bin, "tune", "apply", "-dev", dev, "-state", state)
	if apply.code != 0 {
		t.Fatalf("tune apply in %s: exit %d: %s%s", ns, apply.code, apply.stdout, apply.stderr)
	}
	t.Logf("tune apply -dev %s in %s:\n%s%s", dev, ns, apply.stderr, apply.stdout)
	checkHostGlobalNamed(t, "apply", apply.stdout)
	for _, name := range hostGlobalNet {
		if !hasLine(apply.stdout, "skipped", name, "on the host: sysctl -w "+name+"=") {
			t.Errorf("apply has no skipped line for %s with the sysctl -w to run on the host", name)
		}
	}
	if want := fmt.Sprintf("applied %d setting(s)", len(pending)); !strings.Contains(apply.stdout, want) {
		t.Errorf("apply output lacks %q", want)
	}
	checkStateFile(t, state, pending, nsBefore)
	nsApplied := readInNetNS(t, ns, paths)
	for _, c := range pending {
		if !sameValue(c, nsApplied[c.Path], c.New) {
			t.Errorf("in %s after apply %s = %q, want %q", ns, c.Path, nsApplied[c.Path], c.New)
		}
	}
	checkHostUnchanged(t, "apply in "+ns, hostBefore, readHostSysctls(t), hostScoped(pending))

	revert := execInNetNS(t, ns, nil, bin, "tune", "revert", "-state", state)
	if revert.code != 0 {
		t.Fatalf("tune revert in %s: exit %d: %s%s", ns, revert.code, revert.stdout, revert.stderr)
	}
	if want := fmt.Sprintf("reverted %d setting(s)", len(pending)); !strings.Contains(revert.stdout, want) {
		t.Errorf("revert output lacks %q:\n%s", want, revert.stdout)
	}
	nsReverted := readInNetNS(t, ns, paths)
	for _, path := range paths {
		if nsReverted[path] != nsBefore[path] {
			t.Errorf("in %s after revert %s = %q, want %q", ns, path, nsReverted[path], nsBefore[path])
		}
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state file %s after a complete revert: %v", state, err)
	}
	checkHostUnchanged(t, "revert in "+ns, hostBefore, readHostSysctls(t), nil)
}

// planJSONInNetNS runs "bbllive tune plan -json" in ns and decodes it.
func planJSONInNetNS(t *testing.T, ns, bin, dev string) *Plan {
	t.Helper()
	r := execInNetNS(t, ns, nil, bin, "tune", "plan", "-dev", dev, "-json")
	if r.code != 0 {
		t.Fatalf("tune plan -json in %s: exit %d: %s", ns, r.code, r.stderr)
	}
	var p Plan
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("tune plan -json in %s: %v: %s", ns, err, r.stdout)
	}
	return &p
}

// checkNetNSPlan checks the plan made inside the namespace and returns the
// changes apply will write: every host-global sysctl kept as unwritable,
// none of them pending, and the veth's queues and the namespace's own
// somaxconn (a fresh namespace starts at the kernel's 4096) to be set.
func checkNetNSPlan(t *testing.T, p *Plan, dev string) []Change {
	t.Helper()
	if p.NetNS.Initial {
		t.Fatalf("plan thinks it runs in the initial namespace: %+v", p.NetNS)
	}
	var unwritable []string
	for _, c := range p.Unwritable() {
		unwritable = append(unwritable, c.Target)
		if c.Scope != ScopeInitNetNS {
			t.Errorf("%s unwritable with scope %q, want %q", c.Target, c.Scope, ScopeInitNetNS)
		}
	}
	if want := slices.Sorted(slices.Values(hostGlobalNet)); !slices.Equal(slices.Sorted(slices.Values(unwritable)), want) {
		t.Errorf("unwritable %v, want the host-global %v", unwritable, want)
	}
	pending := p.Pending()
	byPath := map[string]Change{}
	for _, c := range pending {
		byPath[c.Path] = c
		if c.Scope == ScopeInitNetNS {
			t.Errorf("host-global %s planned inside the namespace", c.Target)
		}
	}
	want := []string{sysctlPath("net.core.somaxconn")}
	for q := range 4 {
		want = append(want, queuePath(dev, "rx", q, "rps_cpus"), queuePath(dev, "rx", q, "rps_flow_cnt"))
	}
	for _, path := range want {
		if _, ok := byPath[path]; !ok {
			t.Errorf("%s not planned inside the namespace; pending: %v", path, slices.Sorted(maps.Keys(byPath)))
		}
	}
	if c := byPath[sysctlPath("net.core.somaxconn")]; c.Scope != ScopeNetNS {
		t.Errorf("somaxconn planned with scope %q, want %q", c.Scope, ScopeNetNS)
	}
	xps := 0
	for _, c := range pending {
		if c.Kind == KindXPS {
			xps++
		}
	}
	if p.Online.Len() >= 2 && xps < 2 {
		t.Errorf("%d xps change(s) for a 4-tx-queue veth on CPUs %s, want every CPU mapped", xps, p.Online.List())
	}
	if len(pending) < len(want) {
		t.Fatalf("only %d change(s) pending", len(pending))
	}
	return pending
}

// checkHostGlobalNamed checks that output names each host-global sysctl as
// such, with the command to set it on the host, and never blames the
// kernel's RFS support for what is the namespace.
func checkHostGlobalNamed(t *testing.T, what, output string) {
	t.Helper()
	if strings.Contains(output, "kernel without RFS") {
		t.Errorf("%s blames the kernel for the namespace:\n%s", what, output)
	}
	for _, name := range hostGlobalNet {
		if !hasLine(output, name, "host-global", "only the initial network namespace sets it", "sysctl -w "+name+"=") {
			t.Errorf("%s does not name %s as host-global, set on the host:\n%s", what, name, output)
		}
	}
}

// hasLine reports whether one line of output contains every part.
func hasLine(output string, parts ...string) bool {
	for line := range strings.Lines(output) {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			return true
		}
	}
	return false
}

// checkStateFile checks that the state file records exactly the pending
// changes with the bytes they had before apply.
func checkStateFile(t *testing.T, path string, pending []Change, before map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("state file after apply: %v", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("state file %s: %v", path, err)
	}
	var saved []string
	for _, e := range st.Entries {
		saved = append(saved, e.Path)
		if e.Old != before[e.Path] {
			t.Errorf("state saved %s as %q, it was %q", e.Path, e.Old, before[e.Path])
		}
	}
	if want := slices.Sorted(slices.Values(changePaths(pending))); !slices.Equal(slices.Sorted(slices.Values(saved)), want) {
		t.Errorf("state file records %v, want the pending %v", saved, want)
	}
}

// sameValue compares a value read back with the one written: CPU masks as
// sets (the kernel pads them to nr_cpu_ids), sysctls field by field.
func sameValue(c Change, got, want string) bool {
	if c.Kind == KindRPS || c.Kind == KindXPS {
		g, err1 := ParseCPUMask(strings.TrimSpace(got))
		w, err2 := ParseCPUMask(want)
		return err1 == nil && err2 == nil && g.Equal(w)
	}
	return strings.Join(strings.Fields(got), " ") == strings.Join(strings.Fields(want), " ")
}

// hostScoped names the pending sysctls that reach the whole machine from
// any namespace (fs.file-max).
func hostScoped(pending []Change) []string {
	var names []string
	for _, c := range pending {
		if c.Kind == KindSysctl && c.Scope == ScopeHost {
			names = append(names, c.Target)
		}
	}
	return names
}

func changePaths(cs []Change) []string {
	paths := make([]string, len(cs))
	for i, c := range cs {
		paths[i] = c.Path
	}
	return paths
}

// readHostSysctls reads hostSysctlsSeen in this (the host's) namespace.
func readHostSysctls(t *testing.T) map[string]string {
	t.Helper()
	vals := map[string]string{}
	for _, name := range hostSysctlsSeen {
		b, err := os.ReadFile(sysctlPath(name))
		if err != nil {
			t.Fatalf("host %s: %v", name, err)
		}
		vals[name] = string(b)
	}
	return vals
}

// checkHostUnchanged compares the host's sysctls with their values before,
// except those the plan sets machine-wide on purpose.
func checkHostUnchanged(t *testing.T, after string, before, now map[string]string, except []string) {
	t.Helper()
	for _, name := range hostSysctlsSeen {
		if now[name] != before[name] && !slices.Contains(except, name) {
			t.Errorf("host's %s changed by %s: %q, was %q", name, after, now[name], before[name])
		}
	}
}
