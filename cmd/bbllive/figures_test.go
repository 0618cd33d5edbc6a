package main

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bbllive/bbllive/bpf"
	"github.com/bbllive/bbllive/fanout/logtest"
	"github.com/bbllive/bbllive/fanout/tlstest"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// TestVerifierLogInServerLog makes the kernel's verifier reject a program
// and checks that the server's one log line about it carries every line of
// the verifier's log, and that the server goes on with TCP_INFO figures.
func TestVerifierLogInServerLog(t *testing.T) {
	needBPF(t)
	_, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "MIT", Instructions: asm.Instructions{
		asm.Mov.Imm(asm.R1, 1),
		asm.Add.Imm(asm.R1, 2),
		asm.Mov.Reg(asm.R0, asm.R7), // never written: rejected
		asm.Return(),
	}})
	var verr *ebpf.VerifierError
	if !errors.As(err, &verr) {
		t.Fatalf("loading a bad program: %v, want a *ebpf.VerifierError", err)
	}
	old := loadProbes
	loadProbes = func(bpf.Options) (*bpf.Probes, error) {
		return nil, &bpf.UnavailableError{Reason: "loading socket programs: the kernel's verifier rejected the program", Err: err, VerifierLog: verr.Log}
	}
	t.Cleanup(func() { loadProbes = old })

	logs := &logtest.Buffer{}
	src, probes := openFigures(true, slog.New(slog.NewTextHandler(logs, nil)))
	if probes != nil || bpf.SourceName(src) != bpf.SourceTCPInfo {
		t.Errorf("after a rejection: probes %v, source %s; want none and tcp_info", probes, bpf.SourceName(src))
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "eBPF socket figures off") {
		t.Fatalf("want one log line saying eBPF is off, got %q", lines)
	}
	for _, l := range verr.Log {
		// slog's text handler quotes the value: the log's lines are
		// joined by an escaped newline.
		if q := strconv.Quote(l); !strings.Contains(lines[0], q[1:len(q)-1]) {
			t.Errorf("server log line lacks verifier line %q:\n%s", l, lines[0])
		}
	}
	t.Logf("%s", lines[0])
}

// TestFinalReadingsEveryListener checks, for every way the server's
// listeners stack on socketFigures.listen, that a connection's close with
// the TCP_INFO source leaves its final figures to be drained: plain (RTMP),
// under TLS (RTMPS), under the HTTP listeners' headerConn (a hijacked
// player's connection is that conn), and a duplicate closed after the
// connection (the io_uring transport's publishers).
func TestFinalReadingsEveryListener(t *testing.T) {
	srvTLS, cliTLS := tlstest.Configs(t)
	cliTLS.ServerName = "127.0.0.1"
	const chunk = 1000
	cases := []struct {
		name   string
		wrap   func(net.Listener) net.Listener
		client func(net.Conn) net.Conn
		dup    bool // also send through a duplicate closed with CloseDup
	}{
		{name: "rtmp"},
		{name: "rtmps", wrap: func(ln net.Listener) net.Listener { return tls.NewListener(ln, srvTLS) },
			client: func(c net.Conn) net.Conn { return tls.Client(c, cliTLS) }},
		{name: "http", wrap: func(ln net.Listener) net.Listener { return headerTimeoutListener{ln} }},
		{name: "uring publisher", dup: true},
	}
	ti, err := bpf.NewTCPInfo(0)
	if err != nil {
		t.Fatal(err)
	}
	fig := &socketFigures{src: ti}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := fig.listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if tc.wrap != nil {
				ln = tc.wrap(ln)
			}
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var cc net.Conn = c
			if tc.client != nil {
				cc = tc.client(c)
			}
			go io.Copy(io.Discard, cc)
			conn, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write(make([]byte, chunk)); err != nil {
				t.Fatal(err)
			}
			sock := socketOf(t, conn)
			cookie, err := bpf.Cookie(sock)
			if err != nil {
				t.Fatal(err)
			}
			want := uint64(chunk)
			if !tc.dup {
				conn.Close()
			} else {
				fd := dupOf(t, sock)
				conn.Close() // as the transport does once the ring reads the duplicate
				if _, ok := ti.Retired(cookie); !ok {
					t.Errorf("no reading at the connection's close")
				}
				if _, err := unix.Write(fd, make([]byte, chunk)); err != nil {
					t.Fatal(err)
				}
				want += chunk
				dc, ok := conn.(interface{ CloseDup(int) error })
				if !ok {
					t.Fatalf("%T has no CloseDup", conn)
				}
				if err := dc.CloseDup(fd); err != nil {
					t.Fatal(err)
				}
			}
			s, ok := ti.Retired(cookie)
			if !ok || s.BytesSent < want {
				t.Errorf("final figures %+v (kept %v), want at least %d bytes sent", s, ok, want)
			}
		})
	}

	fig = &socketFigures{} // no source, or eBPF's: connections stay as they are
	ln, err := fig.listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, ok := ln.(*net.TCPListener); !ok {
		t.Errorf("without TCP_INFO the listener is a %T, want *net.TCPListener", ln)
	}
}

// socketOf is the TCP socket under c (a TLS connection's included).
func socketOf(t *testing.T, c net.Conn) syscall.Conn {
	t.Helper()
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = nc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		t.Fatalf("%T is no socket", c)
	}
	return sc
}

// dupOf duplicates sc's descriptor.
func dupOf(t *testing.T, sc syscall.Conn) int {
	t.Helper()
	raw, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd, derr := -1, error(nil)
	if err := raw.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		t.Fatal(err, derr)
	}
	return fd
}
