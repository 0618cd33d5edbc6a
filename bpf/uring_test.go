package bpf

import (
	"bytes"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// miniRing is the least io_uring that submits one operation and waits for
// it: enough to prove the probes count sends and receives that never pass
// through write(2) or read(2). (The server's real binding lives in package
// uring, which this package must not import.)
type miniRing struct {
	fd         int
	ring, sqes []byte
	p          uringParams
	// pinned keeps what the kernel reads through raw addresses on the heap
	// (Go never moves heap objects; it does move stacks).
	pinned []any
}

// uringParams mirrors struct io_uring_params.
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  [10]uint32 // head, tail, ring_mask, ring_entries, flags, dropped, array, resv1, user_addr (u64)
	cqOff                                                                  [10]uint32 // head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1, user_addr (u64)
}

const (
	opWritev = 2
	opSend   = 26
	opRecv   = 27
)

func newMiniRing(t *testing.T) *miniRing {
	t.Helper()
	r := &miniRing{}
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 4, uintptr(unsafe.Pointer(&r.p)), 0)
	if errno != 0 {
		t.Skipf("io_uring_setup unavailable: %v", errno)
	}
	r.fd = int(fd)
	const featSingleMmap = 1
	if r.p.features&featSingleMmap == 0 {
		unix.Close(r.fd)
		t.Skip("io_uring lacks IORING_FEAT_SINGLE_MMAP (Linux < 5.4)")
	}
	size := max(r.p.sqOff[6]+r.p.sqEntries*4, r.p.cqOff[5]+r.p.cqEntries*16)
	var err error
	if r.ring, err = unix.Mmap(r.fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		t.Fatal(err)
	}
	if r.sqes, err = unix.Mmap(r.fd, 0x10000000, int(r.p.sqEntries*64), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(r.sqes); unix.Munmap(r.ring); unix.Close(r.fd) })
	return r
}

func (r *miniRing) u32(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&r.ring[off])) }

// do submits one operation and returns its result.
func (r *miniRing) do(op uint8, fd int, addr unsafe.Pointer, n uint32) (int32, error) {
	tail := atomic.LoadUint32(r.u32(r.p.sqOff[1]))
	idx := tail & *r.u32(r.p.sqOff[2])
	sqe := r.sqes[idx*64 : idx*64+64]
	clear(sqe)
	sqe[0] = op
	*(*int32)(unsafe.Pointer(&sqe[4])) = int32(fd)
	*(*uint64)(unsafe.Pointer(&sqe[16])) = uint64(uintptr(addr))
	*(*uint32)(unsafe.Pointer(&sqe[24])) = n
	*r.u32(r.p.sqOff[6] + idx*4) = idx
	atomic.StoreUint32(r.u32(r.p.sqOff[1]), tail+1)
	const enterGetEvents = 1
	if _, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), 1, 1, enterGetEvents, 0, 0); errno != 0 {
		return 0, fmt.Errorf("io_uring_enter: %w", errno)
	}
	head := atomic.LoadUint32(r.u32(r.p.cqOff[0]))
	if head == atomic.LoadUint32(r.u32(r.p.cqOff[1])) {
		return 0, fmt.Errorf("no completion")
	}
	cqe := r.p.cqOff[5] + (head&*r.u32(r.p.cqOff[2]))*16
	res := *(*int32)(unsafe.Pointer(&r.ring[cqe+8]))
	atomic.StoreUint32(r.u32(r.p.cqOff[0]), head+1)
	return res, nil
}

func rawFD(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	rc.Control(func(f uintptr) { fd = int(f) })
	return fd
}

func TestCountsIOUring(t *testing.T) {
	eachSource(t, testCountsIOUring)
}

func testCountsIOUring(t *testing.T, ts testSource) {
	r := newMiniRing(t)
	client, server := tcpPair(t)
	cfd, sfd := rawFD(t, client), rawFD(t, server)

	payload := bytes.Repeat([]byte("uring"), 2000) // 10,000 bytes
	var sent int64
	n, err := r.do(opSend, cfd, unsafe.Pointer(&payload[0]), uint32(len(payload)))
	if err != nil || n != int32(len(payload)) {
		t.Fatalf("SEND: %d, %v", n, err)
	}
	sent += int64(n)
	iov := []unix.Iovec{{Base: &payload[0]}, {Base: &payload[5]}}
	iov[0].SetLen(5)
	iov[1].SetLen(995)
	r.pinned = append(r.pinned, iov)
	n, err = r.do(opWritev, cfd, unsafe.Pointer(&iov[0]), 2)
	if err != nil || n != 1000 {
		t.Fatalf("WRITEV: %d, %v", n, err)
	}
	sent += int64(n)

	buf := make([]byte, 64<<10)
	var got int64
	for got < sent {
		n, err := r.do(opRecv, sfd, unsafe.Pointer(&buf[0]), uint32(len(buf)))
		if err != nil || n <= 0 {
			t.Fatalf("RECV after %d of %d bytes: %d, %v", got, sent, n, err)
		}
		got += int64(n)
	}
	if s, _ := socketOf(t, ts.src, cookieOf(t, client)); s.BytesSent != uint64(sent) || s.SegmentsOut == 0 {
		t.Errorf("client: sent %d bytes in %d segments, want %d in at least 1", s.BytesSent, s.SegmentsOut, sent)
	}
	if s, _ := socketOf(t, ts.src, cookieOf(t, server)); s.BytesReceived != uint64(sent) {
		t.Errorf("server: received %d, want %d", s.BytesReceived, sent)
	}
}
