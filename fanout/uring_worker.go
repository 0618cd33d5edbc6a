package fanout

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/uring"
	"golang.org/x/sys/unix"
)

// User data of a ring operation: its kind in the top byte, the
// connection's slot below.
const (
	opWrite uint64 = iota + 1
	opRecv
	opWake
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

type uringWorker struct {
	t     *Uring
	id    int
	efd   *uring.Eventfd
	woken atomic.Bool

	mu    sync.Mutex
	adds  []*uringConn
	dirty map[*Stream]struct{}

	// The ring's counters, copied after every wait for other goroutines.
	submitted, reaped, enters, dropped atomic.Uint64

	// Owned by the worker's thread.
	ring     *uring.Ring
	small    *uring.BufRing // player input
	large    *uring.BufRing // publisher input
	slots    []*uringConn
	free     []int
	streams  map[*Stream][]*uringConn // players by stream
	pubs     []*uringConn
	pending  map[*Stream]struct{}
	newAdds  []*uringConn
	view     logView
	fixed    bool // the arena is registered with this ring
	zcOff    bool // SEND_ZC failed with EOPNOTSUPP: write_fixed instead
	live     int
	lastIdle time.Time
}

// startWorker creates a worker and waits until its ring is set up on its
// own locked thread.
func (t *Uring) startWorker(id int, arena [][]byte) (*uringWorker, error) {
	efd, err := uring.NewEventfd()
	if err != nil {
		return nil, err
	}
	w := &uringWorker{t: t, id: id, efd: efd, dirty: map[*Stream]struct{}{},
		streams: map[*Stream][]*uringConn{}, pending: map[*Stream]struct{}{}}
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
		w.efd.Signal()
	}
}

func (w *uringWorker) setup(arena [][]byte) error {
	ring, err := uring.New(uringEntries, uring.WithSingleIssuer(), uring.WithCQSize(4*uringEntries))
	if err != nil {
		return err
	}
	w.ring = ring
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
	return w.armWake()
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
	w.ring.Close()
	w.efd.Close()
}

func (w *uringWorker) loop() {
	interval := w.t.cfg.Flush == FlushInterval
	nextTick := time.Now().Add(w.t.cfg.FlushInterval)
	for {
		w.ring.ForEachCQE(w.complete)
		if w.t.closing.Load() {
			w.shutdownAll()
			if w.live == 0 {
				return
			}
		}
		w.collect()
		now := time.Now()
		if interval && !now.Before(nextTick) {
			for s := range w.streams {
				w.pending[s] = struct{}{}
			}
			nextTick = now.Add(w.t.cfg.FlushInterval)
		}
		for s := range w.pending {
			delete(w.pending, s)
			w.pass(s, now)
		}
		w.checkIdle(now)
		wait := time.Second // bounds idle checks when nothing happens
		if interval {
			wait = max(time.Until(nextTick), time.Millisecond)
		}
		if w.t.closing.Load() {
			wait = 50 * time.Millisecond
		}
		_, err := w.ring.SubmitAndWaitTimeout(1, wait)
		w.publishStats()
		if err != nil && !errors.Is(err, unix.ETIME) && !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.EBUSY) {
			w.t.log.Error("io_uring worker stopped", "worker", w.id, "err", err)
			w.closeAllNow(err)
			return
		}
	}
}

func (w *uringWorker) publishStats() {
	st := w.ring.Stats()
	w.submitted.Store(st.Submitted)
	w.reaped.Store(st.Reaped)
	w.enters.Store(st.Enters)
	w.dropped.Store(st.Dropped)
}

func (w *uringWorker) armWake() error {
	sqe := w.getSQE()
	if sqe == nil {
		return errors.New("fanout: io_uring submission queue full")
	}
	w.efd.PrepRead(sqe)
	sqe.SetUserData(userData(opWake, 0))
	return nil
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
	for s := range w.dirty {
		w.pending[s] = struct{}{}
		delete(w.dirty, s)
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
	uc.lastRecv = time.Now()
	if uc.pub != nil {
		w.pubs = append(w.pubs, uc)
	} else {
		s := uc.p.stream
		w.streams[s] = append(w.streams[s], uc)
		w.pending[s] = struct{}{}
	}
	if pending := uc.pending; len(pending) > 0 {
		uc.pending = nil
		w.input(uc, pending)
	}
	w.armRecv(uc)
}

// complete handles one CQE.
func (w *uringWorker) complete(c uring.CQE) bool {
	kind, slot := c.UserData>>opShift, int(c.UserData&(1<<opShift-1))
	if kind == opWake {
		if err := w.armWake(); err != nil {
			w.t.log.Error("io_uring wake re-arm failed", "err", err)
		}
		return true
	}
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
// as the session's read deadline did before the ring took the connection.
func (w *uringWorker) checkIdle(now time.Time) {
	if now.Sub(w.lastIdle) < time.Second/4 {
		return
	}
	w.lastIdle = now
	for _, uc := range w.pubs {
		if !uc.closing && now.Sub(uc.lastRecv) > w.t.idle {
			w.beginClose(uc, errIdle(w.t.idle))
		}
	}
}
