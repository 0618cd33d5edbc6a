package tuning

import (
	"fmt"
	"strconv"
	"strings"
)

// direction says which way a sysctl may move: the plan only ever moves a
// value in the direction that gives the server more room, so an operator's
// larger (or, for a low-water mark, smaller) setting is never undone.
type direction int

const (
	// raise: every field becomes max(current, wanted).
	raise direction = iota
	// widen: a "low high" range becomes [min(lows), max(highs)].
	widen
	// lower: the value becomes min(current, wanted). Only for limits whose
	// default is "unlimited", where smaller is the tuned direction.
	lower
)

type sysctl struct {
	Name   string
	Want   string
	Dir    direction
	Reason string
}

// sysctlTable is what a streaming server wants. Reasons are one line each.
var sysctlTable = []sysctl{
	{"net.core.somaxconn", "8192", raise,
		"thousands of players reconnect at once when a publisher restarts"},
	{"net.ipv4.tcp_max_syn_backlog", "8192", raise,
		"SYN queue for the same reconnect burst, so handshakes are not dropped"},
	{"net.core.netdev_max_backlog", "16384", raise,
		"per-CPU backlog that RPS feeds; bursts beyond it are dropped before TCP sees them"},
	{"net.ipv4.tcp_wmem", "4096 65536 16777216", raise,
		"lets autotuning give a far or bursting player up to 16 MiB of send buffer"},
	{"net.ipv4.tcp_rmem", "4096 131072 16777216", raise,
		"receive room for publishers pushing high-bitrate streams over long paths"},
	{"net.core.wmem_max", "16777216", raise,
		"ceiling for an explicit SO_SNDBUF, matching tcp_wmem's maximum"},
	{"net.core.rmem_max", "16777216", raise,
		"ceiling for an explicit SO_RCVBUF, matching tcp_rmem's maximum"},
	{"fs.file-max", "2097152", raise,
		"one descriptor per player socket; system-wide room for tens of thousands"},
	{"net.ipv4.ip_local_port_range", "10240 65535", widen,
		"ephemeral ports for relays, edge pulls and load generators; well-known ports kept out"},
	{"net.ipv4.tcp_notsent_lowat", "131072", lower,
		"keeps unsent media in the shared wire log, not copied per player into socket buffers"},
}

// rfsSysctl is planned with RFS rather than with the other sysctls.
const rfsSysctl = "net.core.rps_sock_flow_entries"

// rfsFlowEntries sizes the global RFS table: the kernel's documentation
// suggests 32768 for a moderately loaded server.
const rfsFlowEntries = 32768

func sysctlNames() []string {
	names := []string{rfsSysctl}
	for _, s := range sysctlTable {
		names = append(names, s.Name)
	}
	return names
}

func sysctlPath(name string) string {
	return "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
}

// sysctlTarget computes the value to write, or "" where current already
// satisfies want in the sysctl's direction.
func sysctlTarget(current, want string, dir direction) (string, error) {
	cur, err := parseFields(current)
	if err != nil {
		return "", err
	}
	w, err := parseFields(want)
	if err != nil {
		return "", err
	}
	if len(cur) != len(w) {
		return "", fmt.Errorf("has %d fields, expected %d", len(cur), len(w))
	}
	out := make([]uint64, len(w))
	switch dir {
	case raise:
		for i := range w {
			out[i] = max(cur[i], w[i])
		}
	case lower:
		for i := range w {
			out[i] = min(cur[i], w[i])
		}
	case widen:
		if len(w) != 2 {
			return "", fmt.Errorf("a range needs two fields")
		}
		out[0], out[1] = min(cur[0], w[0]), max(cur[1], w[1])
	}
	if equalFields(out, cur) {
		return "", nil
	}
	return joinFields(out), nil
}

// parseFields reads a numeric sysctl: one or more unsigned numbers separated
// by blanks or tabs, as /proc/sys prints tcp_wmem ("4096\t16384\t4194304").
func parseFields(s string) ([]uint64, error) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 16 {
		return nil, fmt.Errorf("%q is not a numeric sysctl value", clip(s))
	}
	out := make([]uint64, len(f))
	for i, x := range f {
		v, err := strconv.ParseUint(x, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a numeric sysctl value", clip(s))
		}
		out[i] = v
	}
	return out, nil
}

func equalFields(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func joinFields(v []uint64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatUint(x, 10)
	}
	return strings.Join(s, " ")
}
