package tuning

import (
	"fmt"
	"os"
	"strings"
)

// Scope says what a setting reaches and from where it may be written. A
// network namespace (ip netns, a container) has its own copy of some net.*
// sysctls; others exist once per machine and only the initial namespace may
// set them: in another namespace the kernel shows them read-only (recent
// kernels: wmem_max, rmem_max) or not at all (netdev_max_backlog,
// rps_sock_flow_entries, registered for init_net only).
type Scope string

// The scopes of the settings a plan may change.
const (
	// ScopeNetNS: each network namespace has its own value (net.core.somaxconn,
	// net.ipv4.tcp_*): set here, it affects only sockets of this namespace.
	ScopeNetNS Scope = "netns"
	// ScopeInitNetNS: one value for the machine that only the initial network
	// namespace may write (net.core.wmem_max, rps_sock_flow_entries, …).
	ScopeInitNetNS Scope = "host-net"
	// ScopeHost: one value for the machine, not gated by the network
	// namespace (fs.file-max, /proc/irq): root writes it from anywhere, and
	// the change reaches every namespace.
	ScopeHost Scope = "host"
	// ScopeDevice: a device's own queue files; they live with the device in
	// whatever namespace it was moved to.
	ScopeDevice Scope = "device"
)

// sysctlScopes holds the scope of every sysctl the plan may change, from the
// kernel's tables (net/core/sysctl_net_core.c: net_core_table is registered
// for init_net only, netns_core_table for every namespace with its trailing
// rmem/wmem entries made read-only outside init_net; the net.ipv4 TCP and
// port-range sysctls live in struct netns_ipv4 since 4.x).
var sysctlScopes = map[string]Scope{
	"net.core.somaxconn":           ScopeNetNS,
	"net.ipv4.tcp_max_syn_backlog": ScopeNetNS,
	"net.ipv4.tcp_wmem":            ScopeNetNS,
	"net.ipv4.tcp_rmem":            ScopeNetNS,
	"net.ipv4.ip_local_port_range": ScopeNetNS,
	"net.ipv4.tcp_notsent_lowat":   ScopeNetNS,
	"net.core.netdev_max_backlog":  ScopeInitNetNS,
	"net.core.wmem_max":            ScopeInitNetNS,
	"net.core.rmem_max":            ScopeInitNetNS,
	rfsSysctl:                      ScopeInitNetNS,
	"fs.file-max":                  ScopeHost,
}

// sysctlScope returns a sysctl's scope; one missing from the table is taken
// as host-wide, the cautious reading.
func sysctlScope(name string) Scope {
	if s, ok := sysctlScopes[name]; ok {
		return s
	}
	return ScopeHost
}

// initNetOnlyProbe is a sysctl every kernel registers for the initial
// network namespace only (CONFIG_NET is enough): visible means "initial".
const initNetOnlyProbe = "net.core.netdev_max_backlog"

// NetNS is the network namespace discovery found this process in.
type NetNS struct {
	// Self is this process's namespace ("net:[4026532178]"); empty where
	// unreadable.
	Self string `json:"self,omitempty"`
	// PID1 is the namespace of pid 1, the host's unless in a container.
	PID1 string `json:"pid1,omitempty"`
	// Initial reports whether this is the initial (host) network namespace,
	// where every net.* sysctl is writable.
	Initial bool `json:"initial"`
	// Evidence says how Initial was decided, for the plan's note.
	Evidence string `json:"evidence"`
}

// discoverNetNS decides whether this process runs in the initial network
// namespace. Namespace links that differ from pid 1's settle it (ip netns
// exec, nsenter); in a container pid 1 shares the container's namespace, so
// the kernel's own tables decide: a sysctl registered only for init_net
// that is not visible, or one the kernel shows read-only.
func discoverNetNS(t tree) NetNS {
	ns := NetNS{Initial: true}
	ns.Self, _ = os.Readlink(t.path("/proc/self/ns/net"))
	ns.PID1, _ = os.Readlink(t.path("/proc/1/ns/net"))
	switch {
	case ns.Self != "" && ns.PID1 != "" && ns.Self != ns.PID1:
		ns.Initial = false
		ns.Evidence = fmt.Sprintf("this process is in network namespace %s, pid 1 in %s", ns.Self, ns.PID1)
	case t.exists("/proc/sys/net/core/somaxconn") && !t.exists(sysctlPath(initNetOnlyProbe)):
		ns.Initial = false
		ns.Evidence = initNetOnlyProbe + ", which exists only in the initial network namespace, is not visible here"
	case sysctlReadOnly(t, "net.core.wmem_max"):
		ns.Initial = false
		ns.Evidence = "net.core.wmem_max is read-only, as the kernel shows it outside the initial network namespace"
	default:
		ns.Evidence = initNetOnlyProbe + ", registered only for the initial network namespace, is visible"
		if ns.Self != "" && ns.Self == ns.PID1 {
			ns.Evidence = "same network namespace as pid 1 (" + ns.Self + ")"
		}
	}
	return ns
}

// CurrentNetNS reports the network namespace of this process, as seen
// under root ("" or "/" for the real one).
func CurrentNetNS(root string) NetNS {
	return discoverNetNS(tree{root: root})
}

// StatePathFor is the default state file for a namespace: DefaultStatePath
// on the host; in another network namespace a name carrying its inode
// number, because "ip netns exec" shares /var/lib with the host and a
// namespace's apply must not refuse (or be refused) over the host's state.
func StatePathFor(ns NetNS) string {
	if ns.Initial {
		return DefaultStatePath
	}
	id := strings.TrimSuffix(strings.TrimPrefix(ns.Self, "net:["), "]")
	if id == "" || strings.ContainsFunc(id, func(r rune) bool { return r < '0' || r > '9' }) {
		id = "unknown"
	}
	return strings.TrimSuffix(DefaultStatePath, ".json") + "-netns-" + id + ".json"
}

// sysctlReadOnly reports a sysctl file without any write permission bit:
// the kernel marks host-global entries so (0444) inside a namespace.
func sysctlReadOnly(t tree, name string) bool {
	fi, err := os.Stat(t.path(sysctlPath(name)))
	return err == nil && fi.Mode().Perm()&0o222 == 0
}

// unwritableReason explains why a sysctl cannot be set from here, or
// returns "" where it can be. For a host-global one it gives the command
// to run on the host.
func unwritableReason(sys *System, s sysctl, present bool) string {
	if sysctlScope(s.Name) == ScopeInitNetNS && !sys.NetNS.Initial {
		how := "read-only in this network namespace"
		if !present {
			how = "not visible in this network namespace"
		}
		return fmt.Sprintf("host-global (%s): only the initial network namespace sets it; on the host: sysctl -w %s=%q",
			how, s.Name, s.Want)
	}
	if sys.ReadOnlySysctls[s.Name] {
		return "read-only here (mode 0444): the kernel does not let this namespace set it"
	}
	return ""
}

// netnsNote is the plan's note outside the initial network namespace: what
// applies here, what only the host can set, and what reaches the host.
func netnsNote(ns NetNS) string {
	var netns, host, hostNet []string
	for _, s := range sysctlTable {
		switch sysctlScope(s.Name) {
		case ScopeNetNS:
			netns = append(netns, shortName(s.Name))
		case ScopeInitNetNS:
			hostNet = append(hostNet, shortName(s.Name))
		case ScopeHost:
			host = append(host, s.Name)
		}
	}
	hostNet = append(hostNet, shortName(rfsSysctl))
	return fmt.Sprintf("not the initial network namespace (%s): per-namespace sysctls (%s) and this namespace's device queues are set here; "+
		"host-global ones (%s) are skipped: set them on the host (bbllive tune apply there, or sysctl -w); %s and IRQ affinity are machine-wide and change the host too",
		ns.Evidence, strings.Join(netns, ", "), strings.Join(hostNet, ", "), strings.Join(host, ", "))
}
