package main

import (
	"log/slog"
	"net"

	"github.com/bbllive/bbllive/bpf"
)

// loadProbes is bpf.Load; a test swaps it to see how a refusal is logged.
var loadProbes = bpf.Load

// openFigures picks where per-socket kernel figures come from: the eBPF
// probes when -bpf is on and they load, else getsockopt(TCP_INFO), which
// needs no privilege, so the kernel figures never go dark. It returns nil
// (source none) only where even /proc/self/fd cannot be read. Each choice
// is one log line; a refusal says why, the verifier's whole log included.
func openFigures(useBPF bool, log *slog.Logger) (bpf.Source, *bpf.Probes) {
	if useBPF {
		p, err := loadProbes(bpf.Options{})
		if err == nil {
			log.Info("eBPF socket figures on")
			return p, p
		}
		log.Warn("eBPF socket figures off; reading them with TCP_INFO instead", "why", err.Error())
	} else {
		log.Info("eBPF socket figures off (-bpf=false); reading them with TCP_INFO")
	}
	ti, err := bpf.NewTCPInfo(0)
	if err != nil {
		log.Warn("no socket figures at all", "why", err.Error())
		return nil, nil
	}
	return ti, nil
}

// finalReadings wraps the RTMP listener so that, with the TCP_INFO source,
// every accepted connection's final figures are taken just before the
// server closes it (the eBPF close hook needs no help). With any other
// source ln is returned as is.
func (o *observability) finalReadings(ln net.Listener) net.Listener {
	ti, ok := o.figures.(*bpf.TCPInfo)
	if !ok {
		return ln
	}
	return &retiringListener{Listener: ln, ti: ti}
}

// retiringListener hands out connections that report their close to a
// TCPInfo source.
type retiringListener struct {
	net.Listener
	ti *bpf.TCPInfo
}

// Accept implements net.Listener.
func (l *retiringListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok && err == nil {
		return &retiringConn{TCPConn: tc, ti: l.ti}, nil
	}
	return c, err
}

// retiringConn is a TCP connection whose Close first takes its final
// figures. It embeds *net.TCPConn so that every capability the transports
// look for (syscall.Conn, CloseWrite, net.Buffers' writev) stays visible.
type retiringConn struct {
	*net.TCPConn
	ti *bpf.TCPInfo
}

// Close implements net.Conn.
func (c *retiringConn) Close() error {
	if rc, err := c.TCPConn.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { c.ti.Retire(int(fd)) })
	}
	return c.TCPConn.Close()
}
