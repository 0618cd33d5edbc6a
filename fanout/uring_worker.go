package fanout

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/bbllive/bbllive/uring"
	"golang.org/x/sys/unix"
)

// User data of a ring operation: its kind in the top byte, the
// connection's slot below.
const (
	opWrite uint64 = iota + 1
	opRecv
	opShift = 56
)

func userData(kind uint64, slot int) uint64 { return kind<<opShift | uint64(slot) }

// Provided-buffer groups for input: small buffers for players (acks and
// the odd command), large ones for publishers (media at MB/s).
const (
	playerGroup   = 1
	playerBuffers = 256
	playerBufSize = 2048
	pubGroup      = 2
	pubBuffers    = 64
	pubBufSize    = 64 << 10
)

// A worker sleeps on Go's netpoller, not in io_uring_enter: a thread that
// blocks in a system call keeps its P, which the scheduler's monitor then
// takes back after 20 µs and, having had work to do, stops backing off —
// measured here at over 1000 extra nanosleep calls a second with two
// workers, more than all the ring's own calls. So the worker parks in a
// deadline-bounded wait for an eventfd, holding no P; publishers, new
// players and closes signal it.
//
// With the interval flush (the default) the ring needs the worker only at
// each tick: input (a publisher's media, players' acks) waits in socket
// buffers and is received, ingested and fanned out in one go, so a worker
// wakes about once per interval whatever the number of connections. With
// per-message and GOP flushes the eventfd is also registered with the ring,
// whose completions then wake the worker as they come.
type uringWorker struct {
	t      *Uring
	id     int
	efd    *os.File // non-blocking eventfd, registered with the ring and the netpoller
	efdRC  syscall.RawConn
	woken  atomic.Bool
	waited bool
	readE  func(fd uintptr) bool

	mu    sync.Mutex
	adds  []*uringConn
	dirty map[*Output]struct{}

	// The ring's counters, copied after every wait for other goroutines.
	submitted, reaped, enters, dropped atomic.Uint64
	// The transport's counters as this worker moved them since it last
	// added them to Uring.stats: shared atomics bumped per write by two
	// workers would bounce their cache lines between cores 70k times a
	// second at per-message flush.
	counts workerCounts

	// Owned by the worker's thread.
	ring     *uring.Ring
	small    *uring.BufRing // player input
	large    *uring.BufRing // publisher input
	slots    []*uringConn
	free     []int
	outputs  map[*Output][]*uringConn // players by the wire log they read
	pubs     []*uringConn
	pending  map[*Output]struct{}
	newAdds  []*uringConn
	todo     []*uringConn // a pass's live players (scratch)
	ending   []*uringConn // a pass's players to close (scratch)
	view     logView
	fixed    bool // the arena is registered with this ring
	files    int  // fixed-file table size (0: plain descriptors); uring_files.go
	fdArg    [1]int32
	sends    uint64 // single-piece writes submitted as SEND (for tests)
	writevs  uint64 // writes submitted as WRITEV (for tests)
	zcOff    bool   // SEND_ZC failed with EOPNOTSUPP: write_fixed instead
	live     int
	inflight int // player writes in flight (result CQEs still to come)
	lastIdle time.Time
	reapedAt time.Time                   // when the completions being handled were reaped
	iov      [maxUringIov + 1]unix.Iovec // startWrite's scratch
}

// startWorker creates a worker and waits until its ring is set up on its
// own locked thread.
func (t *Uring) startWorker(id int, arena [][]byte) (*uringWorker, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fanout: eventfd: %w", err)
	}
	efd := os.NewFile(uintptr(fd), "uring-wake")
	rc, err := efd.SyscallConn()
	if err != nil {
		efd.Close()
		return nil, err
	}
	w := &uringWorker{t: t, id: id, efd: efd, efdRC: rc, dirty: map[*Output]struct{}{},
		outputs: map[*Output][]*uringConn{}, pending: map[*Output]struct{}{}}
	w.readE = w.readEventfd
	ready := make(chan error, 1)
	t.wg.Add(1)
	go w.run(arena, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return w, nil
}

// wake makes the worker look at its queues; coalesced, so a burst of
// flushes costs one eventfd write until the worker runs.
func (w *uringWorker) wake() {
	if !w.woken.Swap(true) {
		w.efdRC.Write(signalEventfd)
	}
}

// sleep parks the worker until its eventfd is signalled or the deadline
// passes, holding no P and no thread of the runtime's. The counter is never
// read: the runtime's poller is edge-triggered and an eventfd raises an edge
// on every signal, so waiting for the next edge is enough and saves two
// reads per wake-up.
func (w *uringWorker) sleep(deadline time.Time) {
	w.efd.SetReadDeadline(deadline)
	w.waited = false
	w.efdRC.Read(w.readE) // a timeout is the expected way out of an idle wait
}

// readEventfd is the poller callback of sleep: "not ready" the first time,
// so the runtime waits for an edge; "done" once woken.
func (w *uringWorker) readEventfd(uintptr) bool {
	done := w.waited
	w.waited = true
	return done
}

// signalEventfd adds one to an eventfd without telling the scheduler (it
// never blocks: the descriptor is non-blocking, and EAGAIN only means the
// counter is saturated, i.e. already signalled). A system call the
// scheduler is told of wakes its monitor from deep sleep on return and
// resets it to polling every 20 µs: measured here as a thousand nanosleep
// calls a second for workers that wake a few dozen times a second.
func signalEventfd(fd uintptr) bool {
	one := [8]byte{1} // 1 in little endian; any non-zero value signals
	unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&one)), 8)
	return true
}

func (w *uringWorker) setup(arena [][]byte) error {
	ring, err := uring.New(uringEntries, uring.WithSingleIssuer(), uring.WithCQSize(4*uringEntries))
	if err != nil {
		return err
	}
	w.ring = ring
	w.setupFiles()
	if w.small, err = ring.NewBufRing(playerGroup, playerBuffers, playerBufSize); err != nil {
		return err
	}
	if w.large, err = ring.NewBufRing(pubGroup, pubBuffers, pubBufSize); err != nil {
		return err
	}
	if len(arena) > 0 {
		if err := ring.RegisterBuffers(arena); err != nil {
			return fmt.Errorf("registering %d MiB of wire-log buffers: %w", len(arena)*blockSize>>20, err)
		}
		w.fixed = true
	}
	if w.t.cfg.Flush == FlushInterval {
		return nil
	}
	return ring.RegisterEventfd(int(w.efd.Fd()))
}

func (w *uringWorker) run(arena [][]byte, ready chan<- error) {
	defer w.t.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := w.setup(arena); err != nil {
		if w.ring != nil {
			w.ring.Close()
		}
		w.efd.Close()
		ready <- err
		return
	}
	ready <- nil
	w.loop()
	w.publishStats()
	w.ring.Close()
	w.efd.Close()
}

func (w *uringWorker) loop() {
	interval := w.t.cfg.Flush == FlushInterval
	nextTick := time.Now().Add(w.t.cfg.FlushInterval)
	for {
		// Run deferred completions (SINGLE_ISSUER+DEFER_TASKRUN posts them
		// only when the owner enters), then reap.
		if err := w.ring.GetEvents(); err != nil && !errors.Is(err, unix.EINTR) {
			w.fail(err)
			return
		}
		w.reap()
		if w.t.closing.Load() {
			w.shutdownAll()
			if w.live == 0 {
				return
			}
		}
		w.collect()
		now := time.Now()
		if interval && !now.Before(nextTick) {
			for o := range w.outputs {
				w.pending[o] = struct{}{}
			}
			nextTick = now.Add(w.t.cfg.FlushInterval)
		}
		for s := range w.pending {
			delete(w.pending, s)
			w.pass(s, now)
		}
		w.checkIdle(now)
		if err := w.submit(); err != nil {
			w.fail(err)
			return
		}
		w.publishStats()
		if w.ring.CQReady() > 0 {
			continue
		}
		wake := now.Add(time.Second) // bounds idle checks when nothing happens
		if interval {
			wake = nextTick
		}
		if w.t.closing.Load() {
			wake = now.Add(20 * time.Millisecond)
		}
		w.sleep(wake)
	}
}

// collectWindow is how long a worker waits, right after submitting writes,
// for their completions: on a LAN or loopback they arrive within it, and
// reaping them in the same system call saves the wake-ups of trickling in.
const collectWindow = time.Millisecond

// submit hands queued operations to the kernel. When writes went out it
// also waits briefly for them to complete, so a flush usually costs one
// io_uring_enter per worker.
func (w *uringWorker) submit() error {
	var err error
	if n := w.ring.SQPending(); n > 0 && w.inflight > 0 {
		_, err = w.ring.SubmitAndWaitBrief(uint32(min(w.inflight, int(w.ring.CQEntries()))), collectWindow)
	} else {
		_, err = w.ring.Submit()
	}
	switch {
	case err == nil, errors.Is(err, unix.ETIME), errors.Is(err, unix.EINTR), errors.Is(err, unix.EBUSY):
		return nil
	}
	return err
}

func (w *uringWorker) fail(err error) {
	w.t.logger.Error("io_uring worker stopped", "worker", w.id, "err", err)
	w.closeAllNow(err)
}

func (w *uringWorker) publishStats() {
	st := w.ring.Stats()
	w.submitted.Store(st.Submitted)
	w.reaped.Store(st.Reaped)
	w.enters.Store(st.Enters)
	w.dropped.Store(st.Dropped)
	w.counts.publish(&w.t.stats)
}

// workerCounts are a worker's unpublished additions to UringStats.
type workerCounts struct {
	writes, short, bytes, recvs uint64
	sizes                       [WriteSizeBuckets]uint64
}

// publish adds the counts to s and starts them again from zero.
func (c *workerCounts) publish(s *UringStats) {
	if c.writes == 0 && c.recvs == 0 {
		return
	}
	s.Writes.Add(c.writes)
	s.ShortWrites.Add(c.short)
	s.BytesWritten.Add(c.bytes)
	s.Recvs.Add(c.recvs)
	for i, n := range c.sizes {
		if n != 0 {
			s.WriteSizes[i].Add(n)
		}
	}
	*c = workerCounts{}
}

// getSQE returns a submission slot, submitting what is queued when full.
func (w *uringWorker) getSQE() *uring.SQE {
	if sqe := w.ring.GetSQE(); sqe != nil {
		return sqe
	}
	w.ring.Submit()
	return w.ring.GetSQE()
}

// collect takes new connections and flushed streams from other goroutines.
func (w *uringWorker) collect() {
	w.woken.Store(false)
	w.mu.Lock()
	w.newAdds, w.adds = w.adds, w.newAdds[:0]
	for o := range w.dirty {
		w.pending[o] = struct{}{}
		delete(w.dirty, o)
	}
	w.mu.Unlock()
	for i, uc := range w.newAdds {
		w.newAdds[i] = nil
		w.attach(uc)
	}
}

func (w *uringWorker) attach(uc *uringConn) {
	if n := len(w.free); n > 0 {
		uc.slot = w.free[n-1]
		w.free = w.free[:n-1]
		w.slots[uc.slot] = uc
	} else {
		uc.slot = len(w.slots)
		w.slots = append(w.slots, uc)
	}
	w.live++
	w.registerFile(uc)
	uc.lastRecv = time.Now()
	if uc.pub != nil {
		w.pubs = append(w.pubs, uc)
	} else {
		o := uc.p.out
		w.outputs[o] = append(w.outputs[o], uc)
		w.pending[o] = struct{}{}
	}
	if pending := uc.pending; len(pending) > 0 {
		uc.pending = nil
		w.input(uc, pending)
	}
	w.armRecv(uc)
}

// reap handles every ready completion, with one clock reading for them all.
func (w *uringWorker) reap() {
	w.reapedAt = time.Now()
	w.ring.ForEachCQE(w.complete)
}

// complete handles one CQE.
func (w *uringWorker) complete(c uring.CQE) bool {
	kind, slot := c.UserData>>opShift, int(c.UserData&(1<<opShift-1))
	if slot >= len(w.slots) || w.slots[slot] == nil {
		return true
	}
	uc := w.slots[slot]
	switch kind {
	case opWrite:
		w.writeDone(uc, c)
	case opRecv:
		w.recvDone(uc, c)
	}
	w.maybeFinish(uc)
	return true
}

// checkIdle closes publishers that have sent nothing for the idle timeout,
// as the session's read deadline did before the ring took the connection,
// and those the hub evicted.
func (w *uringWorker) checkIdle(now time.Time) {
	if now.Sub(w.lastIdle) < time.Second/4 {
		return
	}
	w.lastIdle = now
	for _, uc := range w.pubs {
		if !uc.closing && now.Sub(uc.lastRecv) > w.t.idle {
			w.beginClose(uc, errIdle(w.t.idle))
		}
		if err := uc.pub.evicted(); err != nil && !uc.closing {
			w.beginClose(uc, err) // stale or taken over (publisher_loss.go)
		}
	}
}
