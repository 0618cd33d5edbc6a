package tuning

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeNIC describes one interface of a fake /sys tree.
type fakeNIC struct {
	name string
	// pci is the PCI function holding numa_node and msi_irqs; "" makes a
	// software device without a device link (veth, bridge).
	pci string
	// sub is a child device the link points to (virtio's "virtio2"), so
	// attributes must be found on the parent.
	sub    string
	node   int // -1: numa_node says "-1"; -2: no numa_node file
	rx, tx int
	// irqs are the action names of the device's vectors, in IRQ order.
	irqs  []string
	noMSI bool // vectors only findable by name in /proc/interrupts
	noXPS bool
	rps   string // initial rps_cpus, "0" when empty
}

// shape is a whole fake machine.
type shape struct {
	online     string
	nodes      []string // cpulist per node
	nics       []fakeNIC
	irqbalance bool
	// others are /proc/interrupts lines of unrelated devices.
	others []string
	// netns places the machine's view in a network namespace other than
	// the initial one (see the fakeNetNS constants); "" is the host.
	netns fakeNetNS
}

// fakeNetNS is how a fake tree looks from a network namespace.
type fakeNetNS string

const (
	// nsIPNetns: ip netns exec, whose namespace link differs from pid 1's;
	// the kernel hides netdev_max_backlog and rps_sock_flow_entries there
	// and shows wmem_max and rmem_max read-only (recent kernels).
	nsIPNetns fakeNetNS = "ip-netns"
	// nsContainer: a container, where pid 1 shares the namespace, so only
	// the missing host-global sysctls tell.
	nsContainer fakeNetNS = "container"
	// nsReadOnly: namespace links unreadable, every sysctl visible, the
	// host-global ones read-only.
	nsReadOnly fakeNetNS = "read-only"
)

// hostGlobalNet are the net sysctls the kernel keeps for init_net only.
var hostGlobalNet = []string{"net.core.netdev_max_backlog", "net.core.wmem_max", "net.core.rmem_max", rfsSysctl}

var defaultSysctls = map[string]string{
	"net.core.somaxconn":             "4096",
	"net.ipv4.tcp_max_syn_backlog":   "2048",
	"net.core.netdev_max_backlog":    "1000",
	"net.ipv4.tcp_wmem":              "4096\t16384\t4194304",
	"net.ipv4.tcp_rmem":              "4096\t131072\t33554432",
	"net.core.wmem_max":              "212992",
	"net.core.rmem_max":              "212992",
	"fs.file-max":                    "9223372036854775807",
	"net.ipv4.ip_local_port_range":   "32768\t60999",
	"net.ipv4.tcp_notsent_lowat":     "4294967295",
	"net.core.rps_sock_flow_entries": "0",
}

// buildTree writes the shape under a fresh directory and returns it.
func buildTree(t *testing.T, sh shape) string {
	t.Helper()
	root := t.TempDir()
	put := func(p, content string) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	online, err := ParseCPUList(sh.online)
	if err != nil {
		t.Fatal(err)
	}
	put("/sys/devices/system/cpu/online", sh.online+"\n")
	for i, n := range sh.nodes {
		put(fmt.Sprintf("/sys/devices/system/node/node%d/cpulist", i), n+"\n")
	}
	for name, v := range defaultSysctls {
		put(sysctlPath(name), v+"\n")
	}
	buildNetNS(t, root, sh.netns)
	var lines []string
	irq := 30
	for _, nic := range sh.nics {
		lines = append(lines, buildNIC(t, root, put, nic, &irq, online)...)
	}
	header := ""
	for _, c := range online.CPUs() {
		header += fmt.Sprintf("       CPU%d", c)
	}
	put("/proc/interrupts", header+"\n"+strings.Join(append(lines, sh.others...), "\n")+"\n")
	if sh.irqbalance {
		put("/proc/4242/comm", "irqbalance\n")
	}
	put("/proc/1/comm", "systemd\n")
	return root
}

// buildNetNS makes the tree look as it does from inside a network namespace.
func buildNetNS(t *testing.T, root string, ns fakeNetNS) {
	t.Helper()
	link := func(p, target string) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	self, pid1 := "net:[4026531833]", "net:[4026531833]"
	switch ns {
	case "":
	case nsIPNetns:
		self = "net:[4026532178]"
	case nsContainer:
		self, pid1 = "net:[4026532178]", "net:[4026532178]"
	case nsReadOnly:
		self, pid1 = "", ""
	default:
		t.Fatalf("unknown fake namespace %q", ns)
	}
	if self != "" {
		link("/proc/self/ns/net", self)
		link("/proc/1/ns/net", pid1)
	}
	if ns == "" {
		return
	}
	for _, name := range hostGlobalNet {
		p := filepath.Join(root, sysctlPath(name))
		var err error
		if name == "net.core.wmem_max" || name == "net.core.rmem_max" || ns == nsReadOnly {
			err = os.Chmod(p, 0o444)
		} else {
			err = os.Remove(p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func buildNIC(t *testing.T, root string, put func(string, string), nic fakeNIC, irq *int, online CPUSet) []string {
	t.Helper()
	base := "/sys/class/net/" + nic.name
	if err := os.MkdirAll(filepath.Join(root, base), 0o755); err != nil {
		t.Fatal(err)
	}
	rps := nic.rps
	if rps == "" {
		rps = "0"
	}
	for i := range nic.rx {
		put(fmt.Sprintf("%s/queues/rx-%d/rps_cpus", base, i), rps+"\n")
		put(fmt.Sprintf("%s/queues/rx-%d/rps_flow_cnt", base, i), "0\n")
	}
	for i := range nic.tx {
		put(fmt.Sprintf("%s/queues/tx-%d/tx_maxrate", base, i), "0\n")
		if !nic.noXPS {
			put(fmt.Sprintf("%s/queues/tx-%d/xps_cpus", base, i), "0\n")
		}
	}
	if nic.pci == "" {
		return nil
	}
	pciDir := "/sys/devices/pci0000:00/" + nic.pci
	devDir := pciDir
	if nic.sub != "" {
		devDir += "/" + nic.sub
	}
	put(devDir+"/uevent", "")
	if nic.node != -2 {
		put(pciDir+"/numa_node", fmt.Sprintf("%d\n", nic.node))
	}
	rel, err := filepath.Rel(filepath.Join(root, base), filepath.Join(root, devDir))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(rel, filepath.Join(root, base, "device")); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, name := range nic.irqs {
		counts := strings.Repeat("          7", online.Len())
		lines = append(lines, fmt.Sprintf("%4d:%s  PCI-MSIX-%s   1-edge      %s", *irq, counts, nic.pci, name))
		put(fmt.Sprintf("/proc/irq/%d/smp_affinity_list", *irq), online.List()+"\n")
		if !nic.noMSI {
			put(fmt.Sprintf("%s/msi_irqs/%d", pciDir, *irq), "msix\n")
		}
		*irq++
	}
	return lines
}

// snapshot records every file and link of a tree, to prove revert restores
// every byte.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			out[p] = "link:" + target
			return err
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			out[p] = string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func names(prefix string, n int, format string) []string {
	var out []string
	for i := range n {
		out = append(out, prefix+fmt.Sprintf(format, i))
	}
	return out
}
