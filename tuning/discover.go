package tuning

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// System is what Discover found: the CPUs, NUMA nodes and NICs of one
// machine and their current settings. Planning reads only this, so plans can
// be tested on values without any filesystem.
type System struct {
	Root   string `json:"root"`
	Online CPUSet `json:"online_cpus"`
	Nodes  []Node `json:"numa_nodes,omitempty"`
	NICs   []NIC  `json:"nics"`
	// IRQBalance holds the pids of running irqbalance daemons.
	IRQBalance []int `json:"irqbalance_pids,omitempty"`
	// Sysctls holds the current value of each sysctl the plan may change,
	// by dotted name; a sysctl absent here does not exist on this kernel.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// ReadOnlySysctls marks sysctls whose file has no write permission:
	// the kernel's way of showing a host-global one inside a namespace.
	ReadOnlySysctls map[string]bool `json:"read_only_sysctls,omitempty"`
	// NetNS is the network namespace this process runs in.
	NetNS NetNS `json:"netns"`
	// Warnings are things discovery could not read but could work around.
	Warnings []string `json:"warnings,omitempty"`
}

// Node is one NUMA node and its CPUs.
type Node struct {
	ID   int    `json:"id"`
	CPUs CPUSet `json:"cpus"`
}

// NIC is one network device and its queues.
type NIC struct {
	Name string `json:"name"`
	// Node is the device's NUMA node, -1 where the kernel does not know.
	Node int `json:"numa_node"`
	// LocalCPUs are the CPUs of Node; empty where Node is unknown.
	LocalCPUs CPUSet  `json:"local_cpus"`
	RX        []Queue `json:"rx_queues"`
	TX        []Queue `json:"tx_queues"`
	// IRQs are the interrupts that serve the queues (control vectors left
	// out), with Queue the queue index each serves.
	IRQs []QueueIRQ `json:"irqs,omitempty"`
}

// Queue is one rx-N or tx-N directory. Its Has* fields say which steering
// files the kernel offers for it; the strings hold their current contents.
type Queue struct {
	Index      int    `json:"index"`
	HasRPS     bool   `json:"has_rps,omitempty"`
	RPSCPUs    string `json:"rps_cpus,omitempty"`
	HasFlowCnt bool   `json:"has_rps_flow_cnt,omitempty"`
	FlowCnt    string `json:"rps_flow_cnt,omitempty"`
	HasXPS     bool   `json:"has_xps,omitempty"`
	XPSCPUs    string `json:"xps_cpus,omitempty"`
}

// QueueIRQ is an interrupt serving a queue of a NIC.
type QueueIRQ struct {
	IRQ   int    `json:"irq"`
	Name  string `json:"name"`
	Queue int    `json:"queue"`
	// Affinity is the current smp_affinity_list; empty where unreadable.
	Affinity string `json:"affinity"`
}

// HWQueues is the number of distinct queues served by their own interrupt.
// A software device (veth, bridge) has none: its receive work runs wherever
// the sender ran, which is why it gets RPS like a single-queue NIC.
func (n NIC) HWQueues() int {
	seen := map[int]bool{}
	for _, q := range n.IRQs {
		seen[q.Queue] = true
	}
	return len(seen)
}

// Discover reads the machine under opts.Root: online CPUs, NUMA nodes, the
// NICs named in opts.Devices (or every NIC backed by a device), their queues
// and IRQs, the current settings and whether irqbalance runs.
func Discover(opts Options) (*System, error) {
	t := tree{root: opts.Root}
	sys := &System{Root: opts.rootOrSlash(), Sysctls: map[string]string{}, ReadOnlySysctls: map[string]bool{}}
	var err error
	if sys.Online, err = readOnline(t); err != nil {
		return nil, err
	}
	sys.Nodes = readNodes(t)
	names, err := nicNames(t, opts.Devices)
	if err != nil {
		return nil, err
	}
	irqs, warn := readInterrupts(t)
	if warn != "" {
		sys.Warnings = append(sys.Warnings, warn)
	}
	for _, name := range names {
		sys.NICs = append(sys.NICs, discoverNIC(t, name, sys.Nodes, irqs))
	}
	sys.IRQBalance = findIRQBalance(t)
	for _, name := range sysctlNames() {
		if v, err := t.readTrim(sysctlPath(name)); err == nil {
			sys.Sysctls[name] = v
			if sysctlReadOnly(t, name) {
				sys.ReadOnlySysctls[name] = true
			}
		}
	}
	sys.NetNS = discoverNetNS(t)
	return sys, nil
}

func readOnline(t tree) (CPUSet, error) {
	const p = "/sys/devices/system/cpu/online"
	s, err := t.read(p)
	if err != nil {
		return CPUSet{}, fmt.Errorf("online CPUs: %w", err)
	}
	set, err := ParseCPUList(s)
	if err != nil {
		return CPUSet{}, fmt.Errorf("%s: %w", t.path(p), err)
	}
	if set.Len() == 0 {
		return CPUSet{}, fmt.Errorf("%s: no CPU online", t.path(p))
	}
	return set, nil
}

func readNodes(t tree) []Node {
	dirs, _ := filepath.Glob(t.path("/sys/devices/system/node/node[0-9]*"))
	var nodes []Node
	for _, d := range dirs {
		id, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "node"))
		if err != nil {
			continue
		}
		cpus, err := readCPUListFile(filepath.Join(d, "cpulist"))
		if err != nil {
			continue
		}
		nodes = append(nodes, Node{ID: id, CPUs: cpus})
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	return nodes
}

func readCPUListFile(hostPath string) (CPUSet, error) {
	s, err := tree{}.read(hostPath)
	if err != nil {
		return CPUSet{}, err
	}
	return ParseCPUList(s)
}

// nicNames checks the named devices or, with none named, lists every
// interface backed by a device (a "device" link), which leaves out lo,
// bridges, veths and other software devices nobody asked for.
func nicNames(t tree, named []string) ([]string, error) {
	all, err := os.ReadDir(t.path("/sys/class/net"))
	if err != nil {
		return nil, fmt.Errorf("list network devices: %w", err)
	}
	var avail []string
	for _, e := range all {
		avail = append(avail, e.Name())
	}
	if len(named) > 0 {
		var out []string
		for _, n := range named {
			if err := checkDevice(t, n, avail); err != nil {
				return nil, err
			}
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
		return out, nil
	}
	var out []string
	for _, n := range avail {
		if t.exists("/sys/class/net/" + n + "/device") {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no network device with hardware under %s (have %s): name one with -dev",
			t.path("/sys/class/net"), strings.Join(avail, ", "))
	}
	return out, nil
}

func checkDevice(t tree, name string, avail []string) error {
	p := t.path("/sys/class/net/" + name)
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || len(name) > 15 {
		return fmt.Errorf("unknown device %q: not a valid interface name", name)
	}
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("unknown device %q: %s: %w (have %s)", name, p, unwrapPath(err), strings.Join(avail, ", "))
	}
	return nil
}

func readInterrupts(t tree) ([]Interrupt, string) {
	f, err := os.Open(t.path("/proc/interrupts"))
	if err != nil {
		return nil, fmt.Sprintf("IRQs not discovered: %v", err)
	}
	defer f.Close()
	irqs, err := ParseInterrupts(f)
	if err != nil {
		return nil, fmt.Sprintf("IRQs not discovered: %v", err)
	}
	return irqs, ""
}

func discoverNIC(t tree, name string, nodes []Node, irqs []Interrupt) NIC {
	base := "/sys/class/net/" + name
	nic := NIC{Name: name, Node: -1}
	nic.RX, nic.TX = readQueues(t, base+"/queues")
	devDirs := deviceAncestors(t, base+"/device")
	if s := firstAttr(devDirs, "numa_node"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			nic.Node = n
		}
	}
	if nic.Node < 0 && len(nodes) == 1 {
		// One node: every CPU is local, whatever the device reports.
		nic.Node = nodes[0].ID
	}
	for _, nd := range nodes {
		if nd.ID == nic.Node {
			nic.LocalCPUs = nd.CPUs
		}
	}
	msi := msiIRQs(devDirs)
	strip := []string{name}
	if len(devDirs) > 0 {
		strip = append(strip, filepath.Base(devDirs[0]))
	}
	nic.IRQs = queueIRQs(deviceIRQs(irqs, msi, name), strip)
	for i := range nic.IRQs {
		nic.IRQs[i].Affinity, _ = t.readTrim(irqAffinityPath(nic.IRQs[i].IRQ))
	}
	return nic
}

func irqAffinityPath(irq int) string {
	return "/proc/irq/" + strconv.Itoa(irq) + "/smp_affinity_list"
}

// deviceAncestors resolves the device link and returns its directory and up
// to two parents inside /sys/devices: numa_node and msi_irqs sit on the PCI
// function, which for virtio-net is the parent of the "virtioN" device.
func deviceAncestors(t tree, link string) []string {
	dir, err := filepath.EvalSymlinks(t.path(link))
	if err != nil {
		return nil
	}
	top, err := filepath.EvalSymlinks(t.path("/sys/devices"))
	if err != nil {
		return nil
	}
	var out []string
	for range 3 {
		if !strings.HasPrefix(dir, top+string(filepath.Separator)) {
			break
		}
		out = append(out, dir)
		dir = filepath.Dir(dir)
	}
	return out
}

func firstAttr(dirs []string, name string) string {
	for _, d := range dirs {
		if s, err := (tree{}).readTrim(filepath.Join(d, name)); err == nil {
			return s
		}
	}
	return ""
}

func msiIRQs(dirs []string) map[int]bool {
	for _, d := range dirs {
		ents, err := os.ReadDir(filepath.Join(d, "msi_irqs"))
		if err != nil {
			continue
		}
		out := map[int]bool{}
		for _, e := range ents {
			if n, err := strconv.Atoi(e.Name()); err == nil {
				out[n] = true
			}
		}
		return out
	}
	return nil
}

func readQueues(t tree, dir string) (rx, tx []Queue) {
	ents, err := os.ReadDir(t.path(dir))
	if err != nil {
		return nil, nil
	}
	for _, e := range ents {
		kind, num, ok := strings.Cut(e.Name(), "-")
		idx, err := strconv.Atoi(num)
		if !ok || err != nil || idx < 0 {
			continue
		}
		q := Queue{Index: idx}
		qdir := dir + "/" + e.Name()
		switch kind {
		case "rx":
			q.RPSCPUs, q.HasRPS = readOptional(t, qdir+"/rps_cpus")
			q.FlowCnt, q.HasFlowCnt = readOptional(t, qdir+"/rps_flow_cnt")
			rx = append(rx, q)
		case "tx":
			q.XPSCPUs, q.HasXPS = readOptional(t, qdir+"/xps_cpus")
			tx = append(tx, q)
		}
	}
	byIndex := func(qs []Queue) {
		sort.Slice(qs, func(i, j int) bool { return qs[i].Index < qs[j].Index })
	}
	byIndex(rx)
	byIndex(tx)
	return rx, tx
}

// readOptional treats an unreadable file as absent: the kernel answers ENOENT
// when reading xps_cpus of a single-queue device although the file is listed.
func readOptional(t tree, p string) (string, bool) {
	s, err := t.readTrim(p)
	return s, err == nil
}

// findIRQBalance scans /proc for irqbalance by its comm name.
func findIRQBalance(t tree) []int {
	dirs, _ := filepath.Glob(t.path("/proc/[0-9]*"))
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil {
			continue
		}
		if strings.TrimSpace(string(comm)) == "irqbalance" {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids
}
