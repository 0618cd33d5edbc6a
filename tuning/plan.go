package tuning

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is a family of settings the plan may change.
type Kind string

// The kinds of settings, in the order a plan lists them.
const (
	KindIRQ    Kind = "irq"    // /proc/irq/N/smp_affinity_list
	KindRPS    Kind = "rps"    // queues/rx-N/rps_cpus
	KindRFS    Kind = "rfs"    // queues/rx-N/rps_flow_cnt and net.core.rps_sock_flow_entries
	KindXPS    Kind = "xps"    // queues/tx-N/xps_cpus
	KindSysctl Kind = "sysctl" // /proc/sys
)

// AllKinds lists every Kind.
var AllKinds = []Kind{KindIRQ, KindRPS, KindRFS, KindXPS, KindSysctl}

// ParseKinds reads a comma-separated list such as "rps,rfs".
func ParseKinds(s string) ([]Kind, error) {
	var out []Kind
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !validKind(Kind(f)) {
			return nil, fmt.Errorf("unknown kind %q (want some of irq,rps,rfs,xps,sysctl)", clip(f))
		}
		out = append(out, Kind(f))
	}
	return out, nil
}

func validKind(k Kind) bool {
	for _, a := range AllKinds {
		if k == a {
			return true
		}
	}
	return false
}

// Options select what to tune and where.
type Options struct {
	// Root is where /proc and /sys are found; "" means "/". Tests point it
	// at fake trees.
	Root string
	// Devices names the NICs to tune; empty means every NIC backed by a
	// device (software devices such as veth must be named).
	Devices []string
	// Reserve are CPUs kept free of queue IRQs and RPS work so the server
	// can be pinned there (see ParseReserve).
	Reserve CPUSet
	// Kinds limits the plan to these families; empty means all.
	Kinds []Kind
}

func (o Options) rootOrSlash() string {
	if o.Root == "" {
		return "/"
	}
	return o.Root
}

func (o Options) wants(k Kind) bool {
	if len(o.Kinds) == 0 {
		return true
	}
	for _, x := range o.Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Change is one file the plan would write.
type Change struct {
	Kind Kind `json:"kind"`
	// Scope says what the setting reaches and who may write it: this
	// network namespace, the host (from the initial namespace only, or from
	// anywhere), or one device's queues.
	Scope Scope `json:"scope"`
	// Target names the setting for people: "eth0 irq 38 (virtio2-input.0)",
	// "eth0 rx-0", "net.core.somaxconn".
	Target string `json:"target"`
	// Path is the kernel path, relative to the plan's root.
	Path    string `json:"path"`
	Current string `json:"current"`
	// New is the value to write; empty when Skip is set.
	New    string `json:"new,omitempty"`
	Reason string `json:"reason"`
	// Skip says why this setting stays as it is (already tuned, owned by
	// irqbalance, unreadable); such changes are shown but not applied.
	Skip string `json:"skip,omitempty"`
	// Unwritable marks a skip because the setting cannot be written from
	// here (host-global inside a network namespace, read-only), as opposed
	// to one already tuned.
	Unwritable bool `json:"unwritable,omitempty"`
}

// Plan is what apply would do, computed without changing anything.
type Plan struct {
	Root     string   `json:"root"`
	Online   CPUSet   `json:"online_cpus"`
	Reserved CPUSet   `json:"reserved_cpus"`
	Devices  []string `json:"devices"`
	// NetNS is the network namespace the plan was made in: outside the
	// initial one, host-global sysctls are skipped.
	NetNS    NetNS    `json:"netns"`
	Notes    []string `json:"notes,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Changes  []Change `json:"changes"`
}

// Pending returns the changes apply will write.
func (p *Plan) Pending() []Change {
	var out []Change
	for _, c := range p.Changes {
		if c.Skip == "" {
			out = append(out, c)
		}
	}
	return out
}

// Unwritable returns the settings skipped because they cannot be written
// from here, such as host-global sysctls inside a network namespace.
func (p *Plan) Unwritable() []Change {
	var out []Change
	for _, c := range p.Changes {
		if c.Unwritable {
			out = append(out, c)
		}
	}
	return out
}

// NewPlan discovers the machine under opts.Root and plans for it.
func NewPlan(opts Options) (*Plan, error) {
	sys, err := Discover(opts)
	if err != nil {
		return nil, err
	}
	return MakePlan(sys, opts)
}

// MakePlan computes the plan for a discovered system. It reads no files.
func MakePlan(sys *System, opts Options) (*Plan, error) {
	if err := checkReserve(opts.Reserve, sys.Online); err != nil {
		return nil, err
	}
	pl := &planner{
		sys:    sys,
		opts:   opts,
		usable: sys.Online.Minus(opts.Reserve),
		load:   map[int]int{},
		plan: &Plan{
			Root:     sys.Root,
			Online:   sys.Online,
			Reserved: opts.Reserve,
			NetNS:    sys.NetNS,
			Warnings: append([]string(nil), sys.Warnings...),
		},
	}
	pl.notes()
	for _, nic := range sys.NICs {
		pl.plan.Devices = append(pl.plan.Devices, nic.Name)
		pl.nic(nic)
	}
	pl.rfsTable()
	if opts.wants(KindSysctl) {
		pl.sysctls()
	}
	return pl.plan, nil
}

func checkReserve(reserve, online CPUSet) error {
	if extra := reserve.Minus(online); extra.Len() > 0 {
		return fmt.Errorf("reserved CPUs %s are not online (online: %s)", extra.List(), online.List())
	}
	if online.Minus(reserve).Len() == 0 {
		return fmt.Errorf("reserving CPUs %s leaves none of %s for interrupts", reserve.List(), online.List())
	}
	return nil
}

// planner carries the state of one planning pass: how many queue IRQs each
// CPU has been given so far (across NICs) and how many RFS queues exist.
type planner struct {
	sys       *System
	opts      Options
	usable    CPUSet
	load      map[int]int
	rfsQueues int
	plan      *Plan
}

func (pl *planner) add(c Change) { pl.plan.Changes = append(pl.plan.Changes, c) }

func (pl *planner) notes() {
	if !pl.sys.NetNS.Initial {
		pl.plan.Notes = append(pl.plan.Notes, netnsNote(pl.sys.NetNS))
	}
	if r := pl.opts.Reserve; r.Len() > 0 {
		pl.plan.Notes = append(pl.plan.Notes, fmt.Sprintf(
			"reserved CPUs %s are kept free of queue IRQs and RPS: run the server there (taskset -c %s bbllive serve)",
			r.List(), r.List()))
	}
	if pids := pl.sys.IRQBalance; len(pids) > 0 && pl.opts.wants(KindIRQ) {
		pl.plan.Warnings = append(pl.plan.Warnings, fmt.Sprintf(
			"irqbalance is running (pid %d): IRQ affinity is left to it; stop it (systemctl disable --now irqbalance) to pin queue IRQs",
			pids[0]))
	}
}

func (pl *planner) nic(nic NIC) {
	order := cpuOrder(nic.LocalCPUs, pl.usable)
	if pl.opts.wants(KindIRQ) {
		pl.irqs(nic, order)
	}
	rpsOn := pl.rps(nic)
	if pl.opts.wants(KindRFS) {
		pl.rfs(nic, rpsOn)
	}
	if pl.opts.wants(KindXPS) {
		all := slices.Concat(order, cpuOrder(nic.LocalCPUs, pl.opts.Reserve))
		pl.xps(nic, all)
	}
}

// cpuOrder lists set with the NIC's local CPUs first: interrupts and packet
// processing on the device's own NUMA node avoid cross-node memory traffic.
func cpuOrder(local, set CPUSet) []int {
	first := set.Intersect(local)
	return append(first.CPUs(), set.Minus(first).CPUs()...)
}

func nodeText(nic NIC) string {
	if nic.Node < 0 {
		return "NUMA node unknown"
	}
	return fmt.Sprintf("NUMA node %d", nic.Node)
}
