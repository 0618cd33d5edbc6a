package bpf

import (
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// lossyPair returns a TCP connection inside a network namespace created for
// the test, whose loopback drops about one in eight large packets on ingress (an egress drop is a local error TCP sends again without counting a retransmission), so that
// TCP must retransmit. The namespace goes away with its last socket.
func lossyPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	type result struct {
		client, server *net.TCPConn
		err            error
	}
	ch := make(chan result, 1)
	go func() {
		// This thread enters a fresh network namespace and is never
		// unlocked: Go ends it with the goroutine, so no other goroutine
		// ever runs in the test's namespace.
		runtime.LockOSThread()
		c, s, err := dialInLossyNamespace(t)
		ch <- result{c, s, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.client.Close(); r.server.Close() })
	return r.client, r.server
}

func dialInLossyNamespace(t *testing.T) (*net.TCPConn, *net.TCPConn, error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, nil, fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
	}
	if err := loopbackUp(); err != nil {
		return nil, nil, err
	}
	prog, err := dropProgram()
	if err != nil {
		return nil, nil, err
	}
	// The link and program may be closed at once: the attachment stays
	// with the namespace's loopback until the namespace goes.
	l, err := link.AttachTCX(link.TCXOptions{Interface: 1, Program: prog, Attach: ebpf.AttachTCXIngress})
	prog.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("attaching the drop program: %w", err)
	}
	t.Cleanup(func() { l.Close() })
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		return nil, nil, err
	}
	ln.SetDeadline(time.Now().Add(5 * time.Second))
	s, err := ln.AcceptTCP()
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, s, nil
}

// loopbackUp sets IFF_UP on lo of the current thread's namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS lo: %w", err)
	}
	return nil
}

// dropProgram drops packets longer than 1000 bytes with probability 1/8 and
// passes everything else (handshakes and ACKs), so that connections
// establish and TCP recovers by retransmitting.
func dropProgram() (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.SchedCLS,
		License: "Dual MIT/GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // skb->len
			asm.JLT.Imm(asm.R2, 1000, "pass"),
			asm.FnGetPrandomU32.Call(),
			asm.And.Imm(asm.R0, 7),
			asm.JNE.Imm(asm.R0, 0, "pass"),
			asm.Mov.Imm(asm.R0, 2), // TCX_DROP
			asm.Return(),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("pass"), // TCX_PASS
			asm.Return(),
		},
	})
}

func TestRetransmitsCounted(t *testing.T) {
	requirePrivilege(t) // the lossy namespace and its drop program need root
	eachSource(t, testRetransmitsCounted)
}

func testRetransmitsCounted(t *testing.T, ts testSource) {
	client, server := lossyPair(t)
	const size = 4 << 20
	done := make(chan struct{})
	go func() { defer close(done); drain(t, server, size) }()
	for sent := 0; sent < size; sent += 64 << 10 {
		client.SetWriteDeadline(time.Now().Add(20 * time.Second))
		if _, err := client.Write(make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	// Until the sender has seen every byte acknowledged it may still
	// retransmit (the probe counts before the kernel's own counter moves),
	// so compare once nothing is outstanding.
	info := quiesce(t, client)
	s, ok := socketOf(t, ts.src, cookieOf(t, client))
	if !ok {
		t.Fatal("no entry for the lossy client socket")
	}
	if s.BytesSent != size {
		t.Errorf("bytes sent %d, want %d", s.BytesSent, size)
	}
	// Retransmissions after the last write (tail loss probes) are counted
	// live, so by now both figures must agree.
	if s.Retransmits == 0 || s.Retransmits != uint64(info.Total_retrans) {
		t.Errorf("retransmits %d, kernel's TCP_INFO total_retrans %d; want equal and > 0", s.Retransmits, info.Total_retrans)
	}
	t.Logf("retransmitted segments %d (TCP_INFO %d), srtt %v, cwnd %d", s.Retransmits, info.Total_retrans, s.SRTT, s.Cwnd)
}

func tcpInfo(c *net.TCPConn) (*unix.TCPInfo, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var info *unix.TCPInfo
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return nil, err
	}
	return info, gerr
}

// quiesce waits until every byte c sent is acknowledged and returns its
// TCP_INFO then.
func quiesce(t *testing.T, c *net.TCPConn) *unix.TCPInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := tcpInfo(c)
		if err != nil {
			t.Fatal(err)
		}
		if info.Unacked == 0 {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d segments still unacknowledged after 10s", info.Unacked)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
