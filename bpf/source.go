package bpf

import (
	"cmp"
	"slices"
)

// The names of the sources of socket figures, as the source label of
// bbllive_socket_figures_source has them.
const (
	SourceBPF     = "bpf"      // the eBPF probes (Load)
	SourceTCPInfo = "tcp_info" // getsockopt(TCP_INFO), no privilege (NewTCPInfo)
	SourceNone    = "none"     // no figures at all
)

// Source is where per-socket figures come from: the eBPF *Probes where they
// load, else the unprivileged *TCPInfo. Both read the kernel's own counters
// of the process's TCP sockets, with the same meaning (SocketStats), so the
// Collector and the connection API take either. Methods are safe for
// concurrent use.
type Source interface {
	// Name is the source's label: SourceBPF or SourceTCPInfo.
	Name() string
	// Snapshot reads the figures of every TCP socket the process has
	// open now, by cookie.
	Snapshot() (map[uint64]SocketStats, error)
	// Retired removes and returns the final figures of a socket the
	// process closed, once; false if none were kept.
	Retired(cookie uint64) (SocketStats, bool)
}

// SourceName is src's label, SourceNone for no source or one that can no
// longer be read (nil or closed Probes).
func SourceName(src Source) string {
	if !usable(src) {
		return SourceNone
	}
	return src.Name()
}

// usable reports whether src can be read: not nil, not nil or closed Probes.
func usable(src Source) bool {
	if p, ok := src.(*Probes); ok {
		return p.alive()
	}
	return src != nil
}

// Sockets reads every open socket's figures from src, ordered by cookie;
// nothing from an unusable source.
func Sockets(src Source) ([]SocketStats, error) {
	if !usable(src) {
		return nil, nil
	}
	return sortedSockets(src)
}

func sortedSockets(src Source) ([]SocketStats, error) {
	all, err := src.Snapshot()
	if err != nil {
		return nil, err
	}
	out := make([]SocketStats, 0, len(all))
	for _, s := range all {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b SocketStats) int { return cmp.Compare(a.Cookie, b.Cookie) })
	return out, nil
}
