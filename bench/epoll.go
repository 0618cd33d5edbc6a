package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bbllive/bbllive/rtmp"
)

// A fast-mode player's socket belongs to one epoll loop: level-triggered
// EPOLLIN, one recv per readiness, bytes counted, no parsing. The recv uses
// MSG_TRUNC, with which Linux TCP discards the queued bytes instead of
// copying them out (tcp_recvmsg skips the copy): on loopback that copy was
// the generator's largest cost. A loop is one goroutine; after a wakeup
// that did not fill its event batch it pauses for Coalesce, so a server's
// burst of writes to many players is collected in one epoll_wait instead of
// a wakeup (and a context switch) per socket.
//
// A loop never blocks in epoll_wait: its epoll descriptor is itself
// registered with Go's netpoller, the loop parks there while nothing is
// ready, and every epoll_wait and recv is a non-blocking raw system call. A
// blocking epoll_wait would hold its P in a system call, and the runtime's
// monitor thread, taking it back again and again, polled every 20 µs: a
// third of the generator's CPU before this.

const (
	scratchSize = 256 << 10
	epollBatch  = 512
)

type loop struct {
	g       *LoadGen
	epfd    int
	ep      *os.File        // epfd, registered with the netpoller
	rc      syscall.RawConn // ep's, to park until an event is ready
	scratch []byte
	events  []unix.EpollEvent
	stop    atomic.Bool
	done    chan struct{}
	wakeups atomic.Uint64
	reads   atomic.Uint64
}

func newLoop(g *LoadGen) (*loop, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("bench: epoll_create1: %w", err)
	}
	// Non-blocking, so that os.NewFile hands it to the netpoller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bench: epoll descriptor: %w", err)
	}
	ep := os.NewFile(uintptr(fd), "epoll")
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("bench: epoll descriptor: %w", err)
	}
	return &loop{g: g, epfd: fd, ep: ep, rc: rc, scratch: make([]byte, scratchSize),
		events: make([]unix.EpollEvent, epollBatch), done: make(chan struct{})}, nil
}

// add hands p's socket (p.fd, non-blocking) to the loop.
func (l *loop) add(p *player) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(p.idx)}
	return unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, p.fd, &ev)
}

func (l *loop) run() {
	defer close(l.done)
	// The callback runs until the netpoller has parked the goroutine for a
	// readiness it missed; close wakes it with a deadline. Made once: a
	// closure per wakeup would be an allocation per wakeup.
	var n int
	poll := func(uintptr) bool {
		n = l.waitNow()
		return n != 0 || l.stop.Load()
	}
	for !l.stop.Load() {
		n = 0
		err := l.rc.Read(poll)
		if err != nil || n <= 0 {
			continue // a deadline (Stop) or EINTR: the loop condition decides
		}
		l.wakeups.Add(1)
		now := l.g.now()
		for _, ev := range l.events[:n] {
			// The state load pairs with handOff's store: what setup
			// wrote to p happens before this read.
			if p := l.g.players[ev.Fd]; p.state.Load() == statePlaying {
				l.readOne(p, now)
			}
		}
		if n < len(l.events) && l.g.cfg.Coalesce > 0 {
			time.Sleep(l.g.cfg.Coalesce)
		}
	}
}

// waitNow collects the ready events without blocking: their count, 0 if
// none, -1 on an error (EINTR).
func (l *loop) waitNow() int {
	r, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.epfd), uintptr(unsafe.Pointer(&l.events[0])),
		uintptr(len(l.events)), 0, 0, 0)
	if errno != 0 {
		return -1
	}
	return int(r)
}

// readOne reads once from p. A level-triggered loop comes back if more is
// queued, so draining to EAGAIN would only add a failing read per wakeup.
func (l *loop) readOne(p *player, now time.Duration) {
	n, err := discard(p.fd, l.scratch)
	l.reads.Add(1)
	switch {
	case n > 0:
		p.received(now, uint64(n))
		l.maybeAck(p)
		if lw := l.g.cfg.RcvLowat; lw > 0 && !p.lowat { // once per player
			p.lowat = true
			unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_RCVLOWAT, lw)
		}
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
	case err != nil:
		l.drop(p, err)
	default:
		l.drop(p, io.EOF) // the server closed the connection
	}
}

// discard receives up to len(buf) bytes from a TCP socket without copying
// them (MSG_TRUNC); buf is passed only so the kernel never sees a null
// pointer should it copy after all.
func discard(fd int, buf []byte) (int, error) {
	// Raw: MSG_DONTWAIT never blocks, so the runtime need not know.
	r, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
		unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

func (l *loop) drop(p *player, err error) {
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, p.fd, nil)
	p.lost(err)
}

// maybeAck sends an RTMP acknowledgement once a window of bytes arrived
// since the last: the server here ignores them, but a server that enforces
// its window (SRS, FMS) would stop sending without them. A full socket
// buffer (EAGAIN) leaves it for the next read.
func (l *loop) maybeAck(p *player) {
	got := p.bytes.Load()
	if p.window == 0 || got-p.acked < uint64(p.window) { // 0: not RTMP, nothing to acknowledge
		return
	}
	var b [32]byte
	seq := []byte{byte(got >> 24), byte(got >> 16), byte(got >> 8), byte(got)}
	ack := rtmp.AppendMessage(b[:0], &rtmp.Message{Type: rtmp.TypeAck, CSID: rtmp.CSIDControl, Payload: seq}, rtmp.DefaultChunkSize)
	if n, err := unix.Write(p.fd, ack); err == nil && n == len(ack) {
		p.acked = got
	}
}

func (l *loop) close() {
	l.stop.Store(true)
	l.ep.SetReadDeadline(time.Now()) // wakes a parked loop
	<-l.done
	l.ep.Close()
}
