package tuning

import (
	"cmp"
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// netnsPending are the sysctls a fresh namespace of the fake tree still
// needs, all per-namespace: apply inside the namespace must write them.
var netnsPending = []string{
	"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_wmem",
	"net.ipv4.ip_local_port_range", "net.ipv4.tcp_notsent_lowat",
}

func TestDiscoverNetNS(t *testing.T) {
	cases := []struct {
		ns       fakeNetNS
		initial  bool
		evidence string
	}{
		{"", true, "same network namespace as pid 1 (net:[4026531833])"},
		{nsIPNetns, false, "this process is in network namespace net:[4026532178], pid 1 in net:[4026531833]"},
		{nsContainer, false, "net.core.netdev_max_backlog, which exists only in the initial network namespace, is not visible"},
		{nsReadOnly, false, "net.core.wmem_max is read-only"},
	}
	for _, tc := range cases {
		t.Run(cmp.Or(string(tc.ns), "host"), func(t *testing.T) {
			root := buildTree(t, shape{online: "0-1", nics: []fakeNIC{virtioNIC()}, netns: tc.ns})
			sys, err := Discover(Options{Root: root})
			if err != nil {
				t.Fatal(err)
			}
			if sys.NetNS.Initial != tc.initial || !strings.Contains(sys.NetNS.Evidence, tc.evidence) {
				t.Errorf("netns = %+v, want initial %v with evidence %q", sys.NetNS, tc.initial, tc.evidence)
			}
		})
	}
}

// TestPlanInNetNS plans inside a namespace: host-global sysctls are shown
// as skipped with where to set them (not as "kernel without RFS"), the
// per-namespace ones and the device queues are planned, and apply writes
// exactly those and revert restores every byte.
func TestPlanInNetNS(t *testing.T) {
	for _, ns := range []fakeNetNS{nsIPNetns, nsContainer, nsReadOnly} {
		t.Run(string(ns), func(t *testing.T) {
			root := buildTree(t, shape{online: "0-1", nodes: []string{"0-1"}, netns: ns,
				nics: []fakeNIC{{name: "vb0", rx: 4, tx: 4}}})
			before := snapshot(t, root)
			p := planFor(t, root, []string{"vb0"}, "")
			if p.NetNS.Initial {
				t.Fatalf("plan thinks it is in the initial namespace: %+v", p.NetNS)
			}
			checkContains(t, "notes", p.Notes, "not the initial network namespace")
			for _, w := range p.Warnings {
				if strings.Contains(w, "kernel without RFS") {
					t.Errorf("warning blames the kernel for a namespace: %q", w)
				}
			}
			var unwritable []string
			for _, c := range p.Unwritable() {
				unwritable = append(unwritable, c.Target)
				if c.Scope != ScopeInitNetNS || !strings.Contains(c.Skip, "host-global") || !strings.Contains(c.Skip, "on the host: sysctl -w "+c.Target+"=") {
					t.Errorf("%s: scope %q skip %q, want host-net and where to set it", c.Target, c.Scope, c.Skip)
				}
			}
			slices.Sort(unwritable)
			if want := slices.Sorted(slices.Values(hostGlobalNet)); !slices.Equal(unwritable, want) {
				t.Errorf("unwritable %v, want %v", unwritable, want)
			}
			pending := map[string]Change{}
			for _, c := range p.Pending() {
				pending[c.Target] = c
			}
			for _, name := range netnsPending {
				if c, ok := pending[name]; !ok || c.Scope != ScopeNetNS {
					t.Errorf("%s not pending with scope netns: %+v", name, c)
				}
			}
			if c, ok := pending["vb0 rx-0"]; !ok || c.Scope != ScopeDevice {
				t.Errorf("vb0 rx-0 not pending with scope device: %+v", pending["vb0 rx-0"])
			}

			statePath := filepath.Join(t.TempDir(), "tune-state.json")
			st, err := Apply(p, statePath)
			if err != nil {
				t.Fatalf("apply inside a namespace: %v", err)
			}
			for _, e := range st.Entries {
				if sysctlScope(e.Target) == ScopeInitNetNS {
					t.Errorf("apply wrote host-global %s", e.Path)
				}
			}
			if len(st.Entries) != len(p.Pending()) {
				t.Errorf("applied %d, planned %d", len(st.Entries), len(p.Pending()))
			}
			if _, err := Revert(root, statePath); err != nil {
				t.Fatal(err)
			}
			if after := snapshot(t, root); !maps.Equal(before, after) {
				t.Error("tree differs after apply and revert")
			}
		})
	}
}

// TestPlanOnHostWritesHostGlobal checks the other side: in the initial
// namespace the host-global sysctls are planned as before.
func TestPlanOnHostWritesHostGlobal(t *testing.T) {
	root := buildTree(t, shape{online: "0-1", nodes: []string{"0-1"}, nics: []fakeNIC{{name: "vb0", rx: 4, tx: 4}}})
	p := planFor(t, root, []string{"vb0"}, "")
	if !p.NetNS.Initial || len(p.Unwritable()) != 0 {
		t.Fatalf("host plan: netns %+v, unwritable %v", p.NetNS, p.Unwritable())
	}
	pending := map[string]bool{}
	for _, c := range p.Pending() {
		pending[c.Target] = true
	}
	for _, name := range hostGlobalNet {
		if !pending[name] {
			t.Errorf("%s not planned on the host", name)
		}
	}
}

func TestNetNSPlanReport(t *testing.T) {
	root := buildTree(t, shape{online: "0-1", nodes: []string{"0-1"}, netns: nsIPNetns,
		nics: []fakeNIC{{name: "vb0", rx: 2, tx: 2}}})
	p := planFor(t, root, []string{"vb0"}, "")
	var table, skipped strings.Builder
	if err := p.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"SCOPE", "host-net  net.core.wmem_max", "netns     net.core.somaxconn",
		"device    vb0 rx-0", "note: not the initial network namespace", "(4 of them cannot be set from here)"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
	if err := p.WriteUnwritable(&skipped); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(skipped.String(), "skipped"); n != len(hostGlobalNet) {
		t.Errorf("%d skipped lines, want %d:\n%s", n, len(hostGlobalNet), skipped.String())
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		NetNS   NetNS `json:"netns"`
		Changes []struct {
			Target     string `json:"target"`
			Scope      Scope  `json:"scope"`
			Unwritable bool   `json:"unwritable"`
		} `json:"changes"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.NetNS.Initial || back.NetNS.Self != "net:[4026532178]" {
		t.Errorf("json netns = %+v", back.NetNS)
	}
	found := false
	for _, c := range back.Changes {
		if c.Target == "net.core.rmem_max" {
			found = c.Scope == ScopeInitNetNS && c.Unwritable
		}
	}
	if !found {
		t.Errorf("json lacks rmem_max as an unwritable host-net setting: %s", b)
	}
}

func TestStatePathFor(t *testing.T) {
	cases := []struct {
		ns   NetNS
		want string
	}{
		{NetNS{Initial: true, Self: "net:[4026531833]"}, DefaultStatePath},
		{NetNS{Self: "net:[4026532178]"}, "/var/lib/bbllive/tune-state-netns-4026532178.json"},
		{NetNS{Self: ""}, "/var/lib/bbllive/tune-state-netns-unknown.json"},
		{NetNS{Self: "net:[../../etc/x]"}, "/var/lib/bbllive/tune-state-netns-unknown.json"},
	}
	for _, tc := range cases {
		if got := StatePathFor(tc.ns); got != tc.want {
			t.Errorf("StatePathFor(%+v) = %q, want %q", tc.ns, got, tc.want)
		}
	}
	// The host and a namespace of the same fake machine get different files.
	host := CurrentNetNS(buildTree(t, shape{online: "0-1", nics: []fakeNIC{virtioNIC()}}))
	ns := CurrentNetNS(buildTree(t, shape{online: "0-1", nics: []fakeNIC{virtioNIC()}, netns: nsIPNetns}))
	if StatePathFor(host) != DefaultStatePath || StatePathFor(ns) == DefaultStatePath {
		t.Errorf("host %q, namespace %q", StatePathFor(host), StatePathFor(ns))
	}
}
