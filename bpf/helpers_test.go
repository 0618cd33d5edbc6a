package bpf

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// requirePrivilege skips, naming what is missing, where eBPF cannot run at
// all. Where it can (root and kernel BTF, as on the project's machine), the
// tests run, and a load failure is a failure, not a skip.
func requirePrivilege(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_BPF and CAP_PERFMON) to load eBPF programs")
	}
	if _, err := os.Stat(btfPath); err != nil {
		t.Skipf("needs kernel BTF at %s: %v", btfPath, err)
	}
}

// loadProbes loads the socket programs for this process and closes them at
// the end of the test.
func loadProbes(t testing.TB) *Probes {
	t.Helper()
	requirePrivilege(t)
	p, err := Load(Options{})
	if err != nil {
		t.Fatalf("Load: %v (errors.Is ErrUnavailable: %v)", err, errors.Is(err, ErrUnavailable))
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   *net.TCPConn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		ln.SetDeadline(time.Now().Add(5 * time.Second))
		c, err := ln.AcceptTCP()
		ch <- res{c, err}
	}()
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		client.Close()
		t.Fatal(r.err)
	}
	pairsMu.Lock()
	pairs[client], pairs[r.c] = r.c, client
	pairsMu.Unlock()
	t.Cleanup(func() {
		client.Close()
		r.c.Close()
		pairsMu.Lock()
		delete(pairs, client)
		delete(pairs, r.c)
		pairsMu.Unlock()
	})
	return client, r.c
}

var (
	pairsMu sync.Mutex
	pairs   = map[*net.TCPConn]*net.TCPConn{} // each end of a tcpPair to the other
)

// cookieOf fails the test if the cookie cannot be read.
func cookieOf(t testing.TB, c *net.TCPConn) uint64 {
	t.Helper()
	k, err := Cookie(c)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// drain reads exactly n bytes from c, failing the test on a short read.
func drain(t testing.TB, c net.Conn, n int64) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.CopyN(io.Discard, c, n)
	if err != nil || got != n {
		t.Errorf("read %d of %d bytes: %v", got, n, err)
	}
}

// testSource is a Source under test and how a test closes one of its
// sockets so that the final figures are kept: the eBPF close hook sees
// every close, the TCP_INFO source needs Retire just before it.
type testSource struct {
	src   Source
	close func(c *net.TCPConn) error
}

// eachSource runs fn once per Source, as subtests named after them: the
// eBPF probes where privileged (else that subtest skips, saying why), and
// TCP_INFO everywhere.
func eachSource(t *testing.T, fn func(t *testing.T, ts testSource)) {
	t.Run(SourceBPF, func(t *testing.T) {
		p := loadProbes(t)
		fn(t, testSource{src: p, close: (*net.TCPConn).Close})
	})
	t.Run(SourceTCPInfo, func(t *testing.T) {
		ti := newTCPInfo(t)
		fn(t, testSource{src: ti, close: func(c *net.TCPConn) error { retire(t, ti, c); return c.Close() }})
	})
}

func newTCPInfo(t testing.TB) *TCPInfo {
	t.Helper()
	ti, err := NewTCPInfo(0)
	if err != nil {
		t.Fatal(err)
	}
	return ti
}

// retire takes c's final TCP_INFO reading, as the server does before a close.
func retire(t testing.TB, ti *TCPInfo, c *net.TCPConn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) { ti.Retire(int(fd)) })
}

// socketOf is src's current figures of the socket with this cookie.
func socketOf(t testing.TB, src Source, cookie uint64) (SocketStats, bool) {
	t.Helper()
	all, err := src.Snapshot()
	if err != nil {
		t.Fatalf("%s snapshot: %v", src.Name(), err)
	}
	s, ok := all[cookie]
	return s, ok
}
