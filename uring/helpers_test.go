package uring

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waitLimit bounds every wait in the tests so a lost completion fails the
// test instead of hanging it.
const waitLimit = 5 * time.Second

// newRing returns a ring or skips the test, naming why, when io_uring is
// unavailable in this process.
func newRing(t testing.TB, entries uint32, opts ...Option) *Ring {
	t.Helper()
	r, err := New(entries, opts...)
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("io_uring is unavailable here: %v", err)
	}
	if err != nil {
		t.Fatalf("New(%d): %v", entries, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// getSQE fails the test when the queue is full; tests size their rings.
func getSQE(t testing.TB, r *Ring) *SQE {
	t.Helper()
	s := r.GetSQE()
	if s == nil {
		t.Fatal("GetSQE: submission queue full")
	}
	return s
}

// reap submits and collects exactly n CQEs within waitLimit.
func reap(t testing.TB, r *Ring, n int) []CQE {
	t.Helper()
	out := make([]CQE, 0, n)
	deadline := time.Now().Add(waitLimit)
	for len(out) < n {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("reaped %d of %d CQEs before timeout: %+v", len(out), n, out)
		}
		if _, err := r.SubmitAndWaitTimeout(1, left); err != nil && !errors.Is(err, unix.ETIME) {
			t.Fatalf("SubmitAndWait: %v", err)
		}
		r.ForEachCQE(func(c CQE) bool {
			out = append(out, c)
			return len(out) < n
		})
	}
	return out
}

// byUserData indexes CQEs; tests give each SQE a distinct UserData.
func byUserData(t testing.TB, cqes []CQE) map[uint64]CQE {
	t.Helper()
	m := make(map[uint64]CQE, len(cqes))
	for _, c := range cqes {
		if _, dup := m[c.UserData]; dup {
			t.Fatalf("two CQEs for user_data %d: %+v", c.UserData, cqes)
		}
		m[c.UserData] = c
	}
	return m
}

// tcpPair returns the two ends of a loopback TCP connection as raw,
// blocking descriptors (portable for ring READ/WRITEV, see the package doc)
// with 5 s socket timeouts so a failing test cannot hang in read(2) or
// write(2).
func tcpPair(t testing.TB) (a, b int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			c = nil
		}
		acc <- c
	}()
	ca, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cb := <-acc
	if cb == nil {
		t.Fatal("accept failed")
	}
	return rawFd(t, ca), rawFd(t, cb)
}

// rawFd takes a private, blocking duplicate of c's socket and closes c.
func rawFd(t testing.TB, c net.Conn) int {
	t.Helper()
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	f.Close()
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(waitLimit))
	for _, opt := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, opt, &tv); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// readFull reads exactly n bytes from fd with read(2).
func readFull(t testing.TB, fd int, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	for off := 0; off < n; {
		m, err := unix.Read(fd, buf[off:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || m == 0 {
			t.Fatalf("read after %d of %d bytes: n=%d err=%v", off, n, m, err)
		}
		off += m
	}
	return buf
}

// writeAll writes b to fd with write(2).
func writeAll(t testing.TB, fd int, b []byte) {
	t.Helper()
	for len(b) > 0 {
		m, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("write: %v", err)
		}
		b = b[m:]
	}
}

// pattern returns n bytes that differ from any shifted copy of themselves,
// so a lost or repeated chunk shows up in a comparison.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func mustEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: %d bytes differ from the %d wanted, first at offset %d", what, len(got), len(want), i)
	}
}

// mmapBuf returns page-backed memory for registration, freed at cleanup.
func mmapBuf(t testing.TB, n int) []byte {
	t.Helper()
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return b
}

func fdOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// unsafeBytes views the memory an iovec names.
func unsafeBytes(v unix.Iovec) []byte { return unsafe.Slice(v.Base, v.Len) }
