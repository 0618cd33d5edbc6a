package tuning

import (
	"fmt"
	"strings"
	"testing"
)

func virtioNIC() fakeNIC {
	return fakeNIC{name: "eth0", pci: "0000:00:03.0", sub: "virtio2", node: -1, rx: 1, tx: 1,
		irqs: []string{"virtio2-config", "virtio2-input.0", "virtio2-output.0"}}
}

func numaNICs() []fakeNIC {
	mlx := []string{"mlx5_async0@pci:0000:81:00.0"}
	mlx = append(mlx, names("mlx5_comp", 4, "%d@pci:0000:81:00.0")...)
	return []fakeNIC{
		{name: "eth0", pci: "0000:81:00.0", node: 1, rx: 4, tx: 4, irqs: mlx},
		{name: "eth1", pci: "0000:02:00.0", node: 0, rx: 2, tx: 2, irqs: names("eth1-TxRx-", 2, "%d")},
	}
}

// want lists, by path, the new value of every non-sysctl change; "=" is a
// setting shown but kept.
type want map[string]string

func irqs(first int, cpus ...string) want {
	w := want{}
	for i, c := range cpus {
		w[fmt.Sprintf("/proc/irq/%d/smp_affinity_list", first+i)] = c
	}
	return w
}

func queues(dev, dir, file string, vals ...string) want {
	w := want{}
	for i, v := range vals {
		w[queuePath(dev, dir, i, file)] = v
	}
	return w
}

func merge(ws ...want) want {
	out := want{}
	for _, w := range ws {
		for k, v := range w {
			out[k] = v
		}
	}
	return out
}

const flowEntriesPath = "/proc/sys/net/core/rps_sock_flow_entries"

var planCases = []struct {
	name    string
	sh      shape
	devices []string
	reserve string
	want    want
	warn    string // substring of a warning
	note    string // substring of a note
}{
	{
		name: "1 queue 2 CPUs virtio",
		sh: shape{online: "0-1", nodes: []string{"0-1"}, nics: []fakeNIC{virtioNIC()},
			others: []string{"  60:  1  2  PCI-MSIX-0000:00:04.0   1-edge      virtio3-rx"}},
		want: merge(irqs(31, "0", "0"),
			queues("eth0", "rx", "rps_cpus", "3"),
			queues("eth0", "rx", "rps_flow_cnt", "32768"),
			want{flowEntriesPath: "32768"}),
	},
	{
		name: "8 queues 4 CPUs ixgbe",
		sh: shape{online: "0-3", nodes: []string{"0-3"}, nics: []fakeNIC{{
			name: "eth0", pci: "0000:01:00.0", node: 0, rx: 8, tx: 8,
			irqs: append(names("eth0-TxRx-", 8, "%d"), "eth0")}}},
		want: merge(irqs(30, "0", "1", "2", "3", "0", "1", "2", "3"),
			queues("eth0", "tx", "xps_cpus", "1", "2", "4", "8", "1", "2", "4", "8")),
	},
	{
		name: "2 NUMA nodes 2 NICs",
		sh:   shape{online: "0-7", nodes: []string{"0-3", "4-7"}, nics: numaNICs()},
		want: merge(irqs(31, "4", "5", "6", "7"), irqs(35, "0", "1"),
			queues("eth0", "rx", "rps_cpus", "f0", "f0", "f0", "f0"),
			queues("eth0", "rx", "rps_flow_cnt", "8192", "8192", "8192", "8192"),
			queues("eth0", "tx", "xps_cpus", "11", "22", "44", "88"),
			queues("eth1", "rx", "rps_cpus", "f", "f"),
			queues("eth1", "rx", "rps_flow_cnt", "16384", "16384"),
			queues("eth1", "tx", "xps_cpus", "55", "aa"),
			want{flowEntriesPath: "32768"}),
	},
	{
		name:    "2 NUMA nodes, 2 CPUs reserved",
		sh:      shape{online: "0-7", nodes: []string{"0-3", "4-7"}, nics: numaNICs()[:1]},
		reserve: "2",
		want: merge(irqs(31, "4", "5", "0", "1"),
			queues("eth0", "rx", "rps_cpus", "30", "30", "30", "30"),
			queues("eth0", "rx", "rps_flow_cnt", "8192", "8192", "8192", "8192"),
			queues("eth0", "tx", "xps_cpus", "14", "28", "41", "82"),
			want{flowEntriesPath: "32768"}),
		note: "reserved CPUs 6-7 are kept free",
	},
	{
		name: "no XPS files, vectors found by name",
		sh: shape{online: "0-1", nodes: []string{"0-1"}, nics: []fakeNIC{{
			name: "eth0", pci: "0000:00:05.0", node: -2, rx: 4, tx: 4, noXPS: true, noMSI: true,
			irqs: append(names("eth0-rx-", 4, "%d"), names("eth0-tx-", 4, "%d")...)}},
			others: []string{"  90:  1  2  PCI-MSIX-0000:00:06.0   1-edge      eth10-rx-0"}},
		want: irqs(30, "0", "1", "0", "1", "0", "1", "0", "1"),
	},
	{
		name: "irqbalance running",
		sh:   shape{online: "0-1", nodes: []string{"0-1"}, nics: []fakeNIC{virtioNIC()}, irqbalance: true},
		want: merge(irqs(31, "=", "="),
			queues("eth0", "rx", "rps_cpus", "3"),
			queues("eth0", "rx", "rps_flow_cnt", "32768"),
			want{flowEntriesPath: "32768"}),
		warn: "irqbalance is running (pid 4242)",
	},
	{
		name: "software device named, RPS already set",
		sh: shape{online: "0-1", nodes: []string{"0-1"}, nics: []fakeNIC{
			virtioNIC(), {name: "veth0", rx: 4, tx: 4, rps: "3"}}},
		devices: []string{"veth0"},
		want: merge(queues("veth0", "rx", "rps_cpus", "=", "=", "=", "="),
			queues("veth0", "rx", "rps_flow_cnt", "8192", "8192", "8192", "8192"),
			queues("veth0", "tx", "xps_cpus", "1", "2", "1", "2"),
			want{flowEntriesPath: "32768"}),
	},
}

func TestPlanShapes(t *testing.T) {
	for _, tc := range planCases {
		t.Run(tc.name, func(t *testing.T) {
			root := buildTree(t, tc.sh)
			p := planFor(t, root, tc.devices, tc.reserve)
			got := want{}
			for _, c := range p.Changes {
				if c.Kind == KindSysctl {
					continue
				}
				v := c.New
				if c.Skip != "" {
					v = "="
				}
				if _, dup := got[c.Path]; dup {
					t.Errorf("%s planned twice", c.Path)
				}
				got[c.Path] = v
				if c.Reason == "" || strings.Contains(c.Reason, "\n") {
					t.Errorf("%s: reason %q is not one line", c.Path, c.Reason)
				}
			}
			for path, v := range tc.want {
				if got[path] != v {
					t.Errorf("%s = %q, want %q", path, got[path], v)
				}
			}
			for path, v := range got {
				if _, ok := tc.want[path]; !ok {
					t.Errorf("unexpected change %s = %q", path, v)
				}
			}
			checkContains(t, "warnings", p.Warnings, tc.warn)
			checkContains(t, "notes", p.Notes, tc.note)
		})
	}
}

func planFor(t *testing.T, root string, devices []string, reserve string) *Plan {
	t.Helper()
	opts := Options{Root: root, Devices: devices}
	sys, err := Discover(opts)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Reserve, err = ParseReserve(reserve, sys.Online); err != nil {
		t.Fatal(err)
	}
	p, err := MakePlan(sys, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func checkContains(t *testing.T, what string, list []string, sub string) {
	t.Helper()
	if sub == "" {
		return
	}
	for _, s := range list {
		if strings.Contains(s, sub) {
			return
		}
	}
	t.Errorf("%s %q lack %q", what, list, sub)
}

func TestPlanSysctlsOnlyRaise(t *testing.T) {
	root := buildTree(t, shape{online: "0-1", nics: []fakeNIC{virtioNIC()}})
	p := planFor(t, root, nil, "")
	wantNew := map[string]string{
		"net.core.somaxconn":           "8192",
		"net.ipv4.tcp_wmem":            "4096 65536 16777216",
		"net.ipv4.tcp_rmem":            "",            // 33554432 > 16777216 kept
		"fs.file-max":                  "",            // larger already
		"net.ipv4.ip_local_port_range": "10240 65535", // widened
		"net.ipv4.tcp_notsent_lowat":   "131072",      // unlimited lowered
		"net.core.wmem_max":            "16777216",    // raised
		"net.core.netdev_max_backlog":  "16384",       // raised
		"net.ipv4.tcp_max_syn_backlog": "8192",        // raised
		"net.core.rmem_max":            "16777216",    // raised
	}
	seen := 0
	for _, c := range p.Changes {
		if c.Kind != KindSysctl {
			continue
		}
		seen++
		w, ok := wantNew[c.Target]
		if !ok {
			t.Errorf("unexpected sysctl %s", c.Target)
			continue
		}
		if c.New != w || (w == "") != (c.Skip != "") {
			t.Errorf("%s: new %q skip %q, want new %q", c.Target, c.New, c.Skip, w)
		}
		if !strings.HasPrefix(c.Reason, shortName(c.Target)+" ") {
			t.Errorf("%s: reason %q does not name the setting", c.Target, c.Reason)
		}
	}
	if seen != len(wantNew) {
		t.Errorf("planned %d sysctls, want %d", seen, len(wantNew))
	}
}

func TestPlanKindsFilter(t *testing.T) {
	root := buildTree(t, shape{online: "0-1", nics: []fakeNIC{virtioNIC()}})
	kinds, err := ParseKinds("rps,rfs")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(Options{Root: root, Kinds: kinds})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Changes {
		if c.Kind != KindRPS && c.Kind != KindRFS {
			t.Errorf("kind %s planned although only rps,rfs asked: %s", c.Kind, c.Path)
		}
	}
	if len(p.Pending()) != 3 {
		t.Errorf("pending %d changes, want 3 (rps_cpus, rps_flow_cnt, rps_sock_flow_entries)", len(p.Pending()))
	}
	if _, err := ParseKinds("rps,bogus"); err == nil {
		t.Error("ParseKinds accepted an unknown kind")
	}
}

func TestDiscoverNUMA(t *testing.T) {
	root := buildTree(t, shape{online: "0-7", nodes: []string{"0-3", "4-7"}, nics: numaNICs()})
	sys, err := Discover(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(sys.NICs) != 2 {
		t.Fatalf("found %d NICs, want 2", len(sys.NICs))
	}
	n := sys.NICs[0]
	if n.Name != "eth0" || n.Node != 1 || n.LocalCPUs.List() != "4-7" || n.HWQueues() != 4 {
		t.Errorf("eth0: node %d local %q hw queues %d", n.Node, n.LocalCPUs.List(), n.HWQueues())
	}
	for _, q := range n.IRQs {
		if strings.Contains(q.Name, "async") {
			t.Errorf("control vector %q taken for a queue", q.Name)
		}
	}
}

func TestDiscoverErrors(t *testing.T) {
	root := buildTree(t, shape{online: "0-1", nics: []fakeNIC{virtioNIC(), {name: "lo", rx: 1, tx: 1}}})
	cases := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"unknown device", Options{Root: root, Devices: []string{"eth9"}}, "unknown device \"eth9\": " + root + "/sys/class/net/eth9"},
		{"path in device name", Options{Root: root, Devices: []string{"../x"}}, "not a valid interface name"},
		{"no sysfs", Options{Root: t.TempDir()}, "online CPUs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPlan(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
	onlySoftware := buildTree(t, shape{online: "0-1", nics: []fakeNIC{{name: "lo", rx: 1, tx: 1}}})
	if _, err := NewPlan(Options{Root: onlySoftware}); err == nil || !strings.Contains(err.Error(), "-dev") {
		t.Errorf("no hardware NIC: err = %v, want a hint to name one with -dev", err)
	}
}

func TestParseReserve(t *testing.T) {
	online := NewCPUSet(0, 1, 2, 3)
	cases := []struct {
		in, want, err string
	}{
		{"", "", ""},
		{"0", "", ""},
		{"1", "3", ""},
		{"3", "1-3", ""},
		{"4", "", "only 4 online"},
		{"2-3", "2-3", ""},
		{"0-3", "", "leaves none"},
		{"7", "", "only 4 online"},
		{"5-6", "", "not online"},
		{"x", "", "not a CPU number"},
	}
	for _, tc := range cases {
		got, err := ParseReserve(tc.in, online)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseReserve(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got.List() != tc.want {
			t.Errorf("ParseReserve(%q) = %q, %v; want %q", tc.in, got.List(), err, tc.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	root := buildTree(t, shape{online: "0-3", nics: []fakeNIC{virtioNIC()}, irqbalance: true})
	p := planFor(t, root, nil, "1")
	var b strings.Builder
	if err := p.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, s := range []string{
		"reserved for the server 3", "warning: irqbalance", "KIND", "eth0 rx-0", "over CPUs 0-2",
		"kept: irqbalance (pid 4242)", "4096 16384 4194304", "→", "somaxconn 8192:",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
}
