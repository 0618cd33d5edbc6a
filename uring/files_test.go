package uring

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tcpEnd returns the server end of a loopback TCP connection as a raw
// descriptor the test closes itself (tcpPair's close at cleanup would hit
// a reused number), and the client end as tcpPair gives it.
func tcpEnd(t *testing.T) (own int, peer int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.(*net.TCPConn).File()
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	own, err = unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	return own, rawFd(t, c)
}

// socketInode is the inode of the socket behind fd, as /proc/net/tcp shows it.
func socketInode(t *testing.T, fd int) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// socketOpen reports whether a TCP socket with inode ino still has its file:
// once the last reference to the file goes, the kernel closes the socket
// (tcp_close orphans it, and /proc/net/tcp shows inode 0 or no entry).
func socketOpen(t *testing.T, ino uint64) bool {
	t.Helper()
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) > 9 && fields[9] == fmt.Sprint(ino) {
				f.Close()
				return true
			}
		}
		f.Close()
	}
	return false
}

// eventually polls cond for up to a second (a file's last reference may be
// dropped from task work just after the call that released it).
func eventually(cond func() bool) bool {
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// registeredSockets counts the sockets in r's fixed-file table, from the
// ring's /proc fdinfo.
func registeredSockets(t *testing.T, r *Ring) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", r.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "socket:[")
}

// TestSparseFilesUpdateReleaseReuse walks a fixed-file slot through the
// life a server gives it: filled when a connection attaches, emptied when
// it goes, filled again by the next one. While registered the table keeps
// the socket alive past close(2); emptying the slot lets it really close.
func TestSparseFilesUpdateReleaseReuse(t *testing.T) {
	r := newRing(t, 8)
	if err := r.RegisterFilesSparse(4); err != nil {
		t.Fatal(err)
	}
	if got := registeredSockets(t, r); got != 0 {
		t.Fatalf("sparse table holds %d sockets, want 0", got)
	}
	for round := range 3 {
		a, b := tcpEnd(t)
		ino := socketInode(t, a)
		if n, err := r.UpdateFiles(2, []int32{int32(a)}); err != nil || n != 1 {
			t.Fatalf("round %d: UpdateFiles(2, fd) = %d, %v", round, n, err)
		}
		if got := registeredSockets(t, r); got != 1 {
			t.Fatalf("round %d: table holds %d sockets, want 1", round, got)
		}
		want := pattern(1000, byte(round))
		s := getSQE(t, r)
		s.PrepSend(2, want, unix.MSG_NOSIGNAL)
		s.SetFlags(SQEFixedFile)
		if c := reap(t, r, 1)[0]; c.Res != int32(len(want)) {
			t.Fatalf("round %d: send on slot 2: %+v (%v)", round, c, c.Err())
		}
		mustEqual(t, "received", readFull(t, b, len(want)), want)

		// The table's reference outlives the descriptor...
		if err := unix.Close(a); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		if !socketOpen(t, ino) {
			t.Fatalf("round %d: socket closed while still registered", round)
		}
		// ...until the slot is emptied.
		if n, err := r.UpdateFiles(2, []int32{-1}); err != nil || n != 1 {
			t.Fatalf("round %d: UpdateFiles(2, -1) = %d, %v", round, n, err)
		}
		if !eventually(func() bool { return !socketOpen(t, ino) }) {
			t.Fatalf("round %d: socket still open after its slot was emptied and its fd closed", round)
		}
		if got := registeredSockets(t, r); got != 0 {
			t.Fatalf("round %d: table holds %d sockets after release, want 0", round, got)
		}
		s = getSQE(t, r)
		s.PrepSend(2, want, unix.MSG_NOSIGNAL)
		s.SetFlags(SQEFixedFile)
		if c := reap(t, r, 1)[0]; !errors.Is(c.Err(), unix.EBADF) {
			t.Fatalf("round %d: send on an emptied slot: %+v, want EBADF", round, c)
		}
	}
	if _, err := r.UpdateFiles(4, []int32{-1}); err == nil {
		t.Fatal("UpdateFiles past the table's end succeeded")
	}
}

// TestRegisterFilesSparseTooLarge: a table beyond the descriptor limit is
// refused with an error naming the registration, which callers use to fall
// back to a smaller table or plain descriptors.
func TestRegisterFilesSparseTooLarge(t *testing.T) {
	r := newRing(t, 4)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	n := lim.Cur + 1
	if n > 1<<30 {
		t.Skipf("RLIMIT_NOFILE is %d: no table size above it to refuse", lim.Cur)
	}
	err := r.RegisterFilesSparse(uint32(n))
	if err == nil {
		t.Fatalf("a %d-slot table (limit %d) was accepted", n, lim.Cur)
	}
	if !strings.Contains(err.Error(), "register sparse files") {
		t.Fatalf("error does not name the registration: %v", err)
	}
	if err := r.RegisterFilesSparse(8); err != nil {
		t.Fatalf("a small table after the refusal: %v", err)
	}
}
