package main

import (
	"context"
	"log/slog"
	"net"

	"github.com/bbllive/bbllive/bpf"
	"golang.org/x/sys/unix"
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

// socketFigures is the server's source of per-socket kernel figures and
// the one way its listeners open and its relay connections dial, so that
// every connection it accepts — RTMP, RTMPS, HTTP on -http and -http-play,
// hijacked or not, on either transport — and every one it dials (an
// edge's pulls, forwards) has its final figures taken at close.
type socketFigures struct {
	src    bpf.Source
	probes *bpf.Probes // src when it is eBPF's, for close
}

// startFigures opens the figures (openFigures). Call it before any
// listener opens, so that no connection escapes them.
func startFigures(useBPF bool, log *slog.Logger) *socketFigures {
	src, probes := openFigures(useBPF, log)
	return &socketFigures{src: src, probes: probes}
}

// close detaches the probes, if any. Run it after every listener and
// connection is closed.
func (f *socketFigures) close() { f.probes.Close() }

// listen opens a TCP listener on addr whose connections report their
// close to the figures (finalReadings). Every listener of the server
// opens here; TLS goes on top (tls.NewListener), so that the connection
// under it is still the one that reports.
func (f *socketFigures) listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return f.finalReadings(ln), nil
}

// finalReadings wraps ln so that, with the TCP_INFO source, every accepted
// connection's final figures are taken just before its socket closes: a
// closed descriptor is gone from /proc/self/fd, and what was sent since
// the last scrape with it. The eBPF close hook (on_state) sees every
// socket of the process close and needs no help, so with any other source
// ln is returned as is.
func (f *socketFigures) finalReadings(ln net.Listener) net.Listener {
	ti, ok := f.src.(*bpf.TCPInfo)
	if !ok {
		return ln
	}
	return &retiringListener{Listener: ln, ti: ti}
}

// dial is relay.NetDial for the server's own connections — an edge's pull
// from its origin, a forward's push — which report their close to the
// figures as accepted ones do (finalReadings): with the TCP_INFO source a
// pull's last received bytes, or a forward's last sent ones, would else
// be lost with the descriptor.
func (f *socketFigures) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if ti, ok := f.src.(*bpf.TCPInfo); ok {
		return retiring(c, ti), nil
	}
	return c, nil
}

// retiring is c reporting its close to ti (retiringConn) when it is a TCP
// connection, for accepted and dialed connections alike.
func retiring(c net.Conn, ti *bpf.TCPInfo) net.Conn {
	if tc, ok := c.(*net.TCPConn); ok {
		return &retiringConn{TCPConn: tc, ti: ti}
	}
	return c
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
	if err != nil {
		return c, err
	}
	return retiring(c, l.ti), nil
}

// retiringConn is a TCP connection whose Close first takes its final
// figures. It embeds *net.TCPConn so that every capability the transports
// look for (syscall.Conn, CloseWrite, net.Buffers' writev) stays visible;
// the HTTP listeners' headerConn keeps it underneath (http_timeout.go), so
// a hijacked player's connection reports too.
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

// CloseDup closes fd, a duplicate of the connection's descriptor, taking
// the socket's final figures first. The io_uring transport reads a
// publisher through such a duplicate after closing the connection itself
// (fanout/uring.go), so the duplicate's close is the socket's last, and
// what the publisher sent since the reading taken at Close is counted.
func (c *retiringConn) CloseDup(fd int) error {
	c.ti.Retire(fd)
	return unix.Close(fd)
}
