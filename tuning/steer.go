package tuning

import (
	"fmt"
	"math/bits"
	"sort"
	"strconv"
)

// irqs pins each queue's interrupts to one CPU, all vectors of a queue (rx
// and tx of virtio, say) to the same CPU, choosing the least loaded CPU in
// NUMA-local order so that several NICs share the CPUs evenly.
func (pl *planner) irqs(nic NIC, order []int) {
	queueCPU := map[int]int{}
	var queues []int
	for _, q := range nic.IRQs {
		if _, ok := queueCPU[q.Queue]; !ok {
			queueCPU[q.Queue] = -1
			queues = append(queues, q.Queue)
		}
	}
	sort.Ints(queues)
	for _, q := range queues {
		queueCPU[q] = pl.leastLoaded(order)
	}
	for _, q := range nic.IRQs {
		cpu := queueCPU[q.Queue]
		c := Change{
			Kind:    KindIRQ,
			Scope:   ScopeHost,
			Target:  fmt.Sprintf("%s irq %d (%s)", nic.Name, q.IRQ, q.Name),
			Path:    irqAffinityPath(q.IRQ),
			Current: q.Affinity,
			New:     strconv.Itoa(cpu),
			Reason:  irqReason(nic, q.Queue, cpu),
		}
		pl.add(pl.skipIRQ(c, cpu))
	}
}

func (pl *planner) leastLoaded(order []int) int {
	best := order[0]
	for _, c := range order[1:] {
		if pl.load[c] < pl.load[best] {
			best = c
		}
	}
	pl.load[best]++
	return best
}

func irqReason(nic NIC, queue, cpu int) string {
	where := "off-node: the local node has fewer CPUs than queues"
	switch {
	case nic.Node < 0:
		where = "NUMA node unknown"
	case nic.LocalCPUs.Has(cpu):
		where = fmt.Sprintf("local to NUMA node %d", nic.Node)
	}
	return fmt.Sprintf("queue %d: queue interrupts spread one per CPU so softirq work is shared out evenly (%s)", queue, where)
}

func (pl *planner) skipIRQ(c Change, cpu int) Change {
	switch {
	case c.Current == "":
		return skip(c, "smp_affinity_list unreadable")
	case len(pl.sys.IRQBalance) > 0:
		return skip(c, fmt.Sprintf("irqbalance (pid %d) owns IRQ affinity", pl.sys.IRQBalance[0]))
	}
	if cur, err := ParseCPUList(c.Current); err != nil {
		return skip(c, "current value unreadable: "+err.Error())
	} else if cur.Equal(NewCPUSet(cpu)) {
		return skip(c, "already set")
	}
	return c
}

func skip(c Change, why string) Change {
	c.New, c.Skip = "", why
	return c
}

// rps sets receive packet steering where the NIC has fewer interrupt-served
// queues than usable CPUs, and reports whether RPS will be on for the NIC.
func (pl *planner) rps(nic NIC) bool {
	on := false
	for _, q := range nic.RX {
		on = on || rpsSet(q.RPSCPUs)
	}
	hw := nic.HWQueues()
	if !pl.opts.wants(KindRPS) || hw >= pl.usable.Len() {
		return on
	}
	mask := pl.usable.Intersect(nic.LocalCPUs)
	if mask.Len() == 0 {
		mask = pl.usable
	}
	reason := fmt.Sprintf("%d IRQ-served queue(s) for %d CPUs: RPS spreads receive work over CPUs %s (%s)",
		hw, pl.usable.Len(), mask.List(), nodeText(nic))
	for _, q := range nic.RX {
		if !q.HasRPS {
			continue
		}
		c := Change{
			Kind:    KindRPS,
			Scope:   ScopeDevice,
			Target:  fmt.Sprintf("%s rx-%d", nic.Name, q.Index),
			Path:    queuePath(nic.Name, "rx", q.Index, "rps_cpus"),
			Current: q.RPSCPUs,
			New:     mask.Mask(),
			Reason:  reason,
		}
		if cur, err := ParseCPUMask(q.RPSCPUs); err != nil {
			c = skip(c, "current value unreadable: "+err.Error())
		} else if cur.Equal(mask) {
			c = skip(c, "already set")
		}
		pl.add(c)
		on = true
	}
	return on
}

func rpsSet(mask string) bool {
	s, err := ParseCPUMask(mask)
	return err == nil && s.Len() > 0
}

func queuePath(dev, dir string, idx int, file string) string {
	return fmt.Sprintf("/sys/class/net/%s/queues/%s-%d/%s", dev, dir, idx, file)
}

// rfs sizes each rx queue's flow table to its share of the global table, so
// that packets are steered to the CPU where the reading thread runs. It only
// applies where RPS is on: without it the kernel never consults the table.
func (pl *planner) rfs(nic NIC, rpsOn bool) {
	if !rpsOn || len(nic.RX) == 0 {
		return
	}
	want := flowCount(rfsFlowEntries, len(nic.RX))
	reason := fmt.Sprintf("RFS: the %d-entry flow table shared over %d rx queue(s) steers each flow to the CPU its reader runs on",
		rfsFlowEntries, len(nic.RX))
	for _, q := range nic.RX {
		if !q.HasFlowCnt {
			continue
		}
		pl.rfsQueues++
		c := Change{
			Kind:    KindRFS,
			Scope:   ScopeDevice,
			Target:  fmt.Sprintf("%s rx-%d", nic.Name, q.Index),
			Path:    queuePath(nic.Name, "rx", q.Index, "rps_flow_cnt"),
			Current: q.FlowCnt,
			New:     strconv.Itoa(want),
			Reason:  reason,
		}
		if cur, err := strconv.ParseUint(q.FlowCnt, 10, 64); err != nil {
			c = skip(c, "current value unreadable")
		} else if cur >= uint64(want) {
			c = skip(c, "already at least "+c.New)
		}
		pl.add(c)
	}
}

// flowCount divides the global table over the queues, rounded up to a power
// of two because the kernel rounds rps_flow_cnt so and reads back the result.
func flowCount(total, queues int) int {
	n := max(total/max(queues, 1), 1)
	return 1 << bits.Len(uint(n-1))
}

func (pl *planner) rfsTable() {
	if pl.rfsQueues == 0 {
		return
	}
	s := sysctl{rfsSysctl, strconv.Itoa(rfsFlowEntries), raise,
		"global RFS table of socket flows, sized for tens of thousands of player connections"}
	cur, ok := pl.sys.Sysctls[rfsSysctl]
	switch {
	case !ok && !pl.sys.NetNS.Initial:
		pl.plan.Warnings = append(pl.plan.Warnings, rfsSysctl+
			" is host-global and not visible in this network namespace: the per-queue flow counts take effect once the host sets it")
		pl.addAbsent(KindRFS, s)
	case !ok:
		pl.plan.Warnings = append(pl.plan.Warnings, rfsSysctl+" is missing: kernel without RFS, per-queue flow counts have no effect")
	default:
		pl.addSysctl(KindRFS, s, cur)
	}
}

// xps maps every CPU, server CPUs included (they transmit), to one tx queue,
// so CPUs do not contend for a queue's lock and completions stay near.
func (pl *planner) xps(nic NIC, order []int) {
	nq := len(nic.TX)
	if nq < 2 || len(order) == 0 {
		return
	}
	masks := make([]CPUSet, nq)
	for j := range max(nq, len(order)) {
		masks[j%nq].Add(order[j%len(order)])
	}
	for i, q := range nic.TX {
		if !q.HasXPS {
			continue
		}
		c := Change{
			Kind:    KindXPS,
			Scope:   ScopeDevice,
			Target:  fmt.Sprintf("%s tx-%d", nic.Name, q.Index),
			Path:    queuePath(nic.Name, "tx", q.Index, "xps_cpus"),
			Current: q.XPSCPUs,
			New:     masks[i].Mask(),
			Reason:  fmt.Sprintf("XPS: CPUs %s send on this queue only, no lock contention between CPUs", masks[i].List()),
		}
		if cur, err := ParseCPUMask(q.XPSCPUs); err != nil {
			c = skip(c, "current value unreadable: "+err.Error())
		} else if cur.Equal(masks[i]) {
			c = skip(c, "already set")
		}
		pl.add(c)
	}
}

func (pl *planner) sysctls() {
	for _, s := range sysctlTable {
		cur, ok := pl.sys.Sysctls[s.Name]
		switch {
		case !ok && unwritableReason(pl.sys, s, false) != "":
			pl.addAbsent(KindSysctl, s)
		case !ok:
			pl.plan.Warnings = append(pl.plan.Warnings, s.Name+" is not present on this kernel: skipped")
		default:
			pl.addSysctl(KindSysctl, s, cur)
		}
	}
}

func sysctlChange(kind Kind, s sysctl, cur string) Change {
	return Change{
		Kind:    kind,
		Scope:   sysctlScope(s.Name),
		Target:  s.Name,
		Path:    sysctlPath(s.Name),
		Current: cur,
		Reason:  fmt.Sprintf("%s %s: %s", shortName(s.Name), s.Want, s.Reason),
	}
}

// addAbsent shows a sysctl this namespace cannot see (a host-global one
// outside the initial network namespace) as a skipped row, so the plan says
// where to set it rather than that the kernel lacks it.
func (pl *planner) addAbsent(kind Kind, s sysctl) {
	c := skip(sysctlChange(kind, s, ""), unwritableReason(pl.sys, s, false))
	c.Unwritable = true
	pl.add(c)
}

func (pl *planner) addSysctl(kind Kind, s sysctl, cur string) {
	c := sysctlChange(kind, s, cur)
	target, err := sysctlTarget(cur, s.Want, s.Dir)
	why := unwritableReason(pl.sys, s, true)
	switch {
	case why != "" && (err != nil || target != ""):
		c = skip(c, why)
		c.Unwritable = true
	case err != nil:
		c = skip(c, "current value unreadable: "+err.Error())
	case target == "" && s.Dir == lower:
		c = skip(c, "already at most "+s.Want)
	case target == "" && s.Dir == widen:
		c = skip(c, "already spans "+s.Want)
	case target == "":
		c = skip(c, "already at least "+s.Want)
	default:
		c.New = target
	}
	pl.add(c)
}

func shortName(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '.' {
			return name[i+1:]
		}
	}
	return name
}
