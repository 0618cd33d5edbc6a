package fanout

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/bbllive/bbllive/rtmp"
	"github.com/bbllive/bbllive/uring"
	"golang.org/x/sys/unix"
)

// SendMode is the io_uring operation that writes wire-log bytes to players.
type SendMode int

// The send modes.
const (
	// SendWritev submits one WRITEV per player per flush covering its whole
	// range. Fastest measured on loopback here (DESIGN.md), so the default.
	SendWritev SendMode = iota
	// SendWriteFixed writes each block of the range from registered buffers
	// with a linked chain of WRITE_FIXED.
	SendWriteFixed
	// SendZC sends each block with SEND_ZC from registered buffers; pays off
	// on real NICs, where the copy it saves is the bottleneck.
	SendZC
)

func (m SendMode) String() string {
	switch m {
	case SendWriteFixed:
		return "write_fixed"
	case SendZC:
		return "send_zc"
	}
	return "writev"
}

// ParseSendMode reads "writev", "write_fixed" or "send_zc".
func ParseSendMode(s string) (SendMode, error) {
	switch s {
	case "writev", "":
		return SendWritev, nil
	case "write_fixed", "write-fixed":
		return SendWriteFixed, nil
	case "send_zc", "send-zc", "zc":
		return SendZC, nil
	}
	return 0, fmt.Errorf("unknown send mode %q (want writev, write_fixed or send_zc)", s)
}

// UringStats are the io_uring transport's counters beyond the rings' own.
type UringStats struct {
	Writes          atomic.Uint64 // write operations completed (a chain counts once)
	ShortWrites     atomic.Uint64 // writes the socket took only part of
	BytesWritten    atomic.Uint64
	RegisteredBytes atomic.Uint64 // wire-log memory registered with the rings
	Recvs           atomic.Uint64 // receive completions from players
}

// Uring is the transport on io_uring: one worker per core, each a goroutine
// on a locked OS thread with its own ring; players are sharded across them.
// A player has at most one write in flight, covering everything from its
// cursor to the head; its completion submits the next. Player input arrives
// through multishot RECV into a provided-buffer ring, and publishers wake
// workers through an eventfd READ armed on each ring, once per flush.
type Uring struct {
	cfg     Config
	log     *slog.Logger
	mode    SendMode
	workers []*uringWorker
	next    atomic.Uint32
	stats   UringStats
	wg      sync.WaitGroup
	closing atomic.Bool
	once    sync.Once
}

// UringOptions tune the io_uring transport.
type UringOptions struct {
	// Mode is the send operation.
	Mode SendMode
	// RegisteredBytes is the wire-log memory allocated at start and
	// registered with every ring for the fixed-buffer modes (default 64 MiB).
	RegisteredBytes int
	// Logger receives worker failures.
	Logger *slog.Logger
}

// uringEntries sizes each ring's submission queue; completions get four
// times as many slots, and the binding drains overflow if ever needed.
const uringEntries = 1024

// NewUring starts the io_uring transport, or returns an error (for which
// errors.Is(err, uring.ErrUnavailable) may hold) saying why it cannot run.
func NewUring(cfg Config, opts UringOptions) (*Uring, error) {
	cfg.withDefaults()
	if err := uring.Available(); err != nil {
		return nil, err
	}
	t := &Uring{cfg: cfg, mode: opts.Mode, log: opts.Logger}
	if t.log == nil {
		t.log = slog.Default()
	}
	var arena [][]byte
	if opts.Mode != SendWritev {
		n := opts.RegisteredBytes
		if n <= 0 {
			n = 64 << 20
		}
		arena = registerArena(n / blockSize)
		t.stats.RegisteredBytes.Store(uint64(len(arena) * blockSize))
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	for i := range workers {
		w, err := t.startWorker(i, arena)
		if err != nil {
			t.Close()
			return nil, err
		}
		t.workers = append(t.workers, w)
	}
	return t, nil
}

// Name implements Transport.
func (t *Uring) Name() string { return "uring" }

// Mode is the send operation in use.
func (t *Uring) Mode() SendMode { return t.mode }

// Stats are the transport's own counters.
func (t *Uring) Stats() *UringStats { return &t.stats }

// RingStats sums the rings' counters: SQEs submitted, CQEs reaped and
// io_uring_enter calls.
func (t *Uring) RingStats() uring.Stats {
	var s uring.Stats
	for _, w := range t.workers {
		s.Submitted += w.submitted.Load()
		s.Reaped += w.reaped.Load()
		s.Enters += w.enters.Load()
		s.Dropped += w.dropped.Load()
	}
	return s
}

// Add implements Transport: the worker takes the whole connection, reads
// included, so the player's session goroutine ends.
func (t *Uring) Add(p *Player) error {
	if t.closing.Load() {
		return errors.New("fanout: transport is closing")
	}
	sc, ok := p.conn.(syscall.Conn)
	if !ok {
		return errors.New("fanout: io_uring transport needs a connection with a file descriptor")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var fd int
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return err
	}
	// The descriptor stays non-blocking: the ring then waits for room with
	// a poll and completes a write short, with what the socket took, instead
	// of handing a blocking write to a kernel worker thread that returns only
	// when everything is sent; short completions are what let a slow player's
	// lag be seen and acted on. Kernels that answer EAGAIN instead are
	// retried at the next pass.
	p.raw = raw
	p.owned = true
	if p.sess != nil {
		p.input, p.inputPending = p.sess.DetachInput()
	}
	w := t.workers[int(t.next.Add(1))%len(t.workers)]
	w.mu.Lock()
	w.adds = append(w.adds, &uringPlayer{p: p, fd: int32(fd)})
	w.mu.Unlock()
	w.wake()
	return nil
}

// Flush implements Transport.
func (t *Uring) Flush(s *Stream) {
	for _, w := range t.workers {
		w.mu.Lock()
		w.dirty[s] = struct{}{}
		w.mu.Unlock()
		w.wake()
	}
}

// Close implements Transport: every player connection is shut down and
// closed, and the rings are released.
func (t *Uring) Close() error {
	t.once.Do(func() {
		t.closing.Store(true)
		for _, w := range t.workers {
			w.wake()
		}
		t.wg.Wait()
	})
	return nil
}

// User data of a ring operation: its kind in the top byte, the player's
// slot below.
const (
	opWrite uint64 = iota + 1
	opRecv
	opWake
	opShift = 56
)

func userData(kind uint64, slot int) uint64 { return kind<<opShift | uint64(slot) }

// recvGroup is the provided-buffer group for player input.
const (
	recvGroup   = 1
	recvBuffers = 256
	recvBufSize = 2048
)

// maxUringIov bounds one player write: 16 blocks (1 MiB) plus the prefix.
const maxUringIov = 17

// uringPlayer is a player's state on its worker.
type uringPlayer struct {
	p    *Player
	fd   int32
	slot int

	st       step
	inflight bool
	results  int // result CQEs outstanding
	notifs   int // SEND_ZC notifications outstanding
	written  int
	broken   bool // a link of the chain came back short
	sentAt   time.Time
	iov      [maxUringIov]unix.Iovec
	niov     int
	pins     [maxUringIov]*block
	npins    int

	recvArmed bool
	closing   bool
	endErr    error
}

type uringWorker struct {
	t     *Uring
	id    int
	efd   *uring.Eventfd
	woken atomic.Bool

	mu    sync.Mutex
	adds  []*uringPlayer
	dirty map[*Stream]struct{}

	// The ring's counters, copied after every wait for other goroutines.
	submitted, reaped, enters, dropped atomic.Uint64

	// Owned by the worker's thread.
	ring    *uring.Ring
	bufs    *uring.BufRing
	slots   []*uringPlayer
	free    []int
	streams map[*Stream][]*uringPlayer
	pending map[*Stream]struct{}
	newAdds []*uringPlayer
	view    logView
	fixed   bool // the arena is registered with this ring
	zcOff   bool // SEND_ZC failed with EOPNOTSUPP: write_fixed instead
	live    int
}

// startWorker creates a worker and waits until its ring is set up on its
// own locked thread.
func (t *Uring) startWorker(id int, arena [][]byte) (*uringWorker, error) {
	efd, err := uring.NewEventfd()
	if err != nil {
		return nil, err
	}
	w := &uringWorker{t: t, id: id, efd: efd, dirty: map[*Stream]struct{}{},
		streams: map[*Stream][]*uringPlayer{}, pending: map[*Stream]struct{}{}}
	ready := make(chan error, 1)
	t.wg.Add(1)
	go w.run(arena, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return w, nil
}

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
	if w.bufs, err = ring.NewBufRing(recvGroup, recvBuffers, recvBufSize); err != nil {
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
		wait := time.Duration(0)
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

// collect takes new players and flushed streams from other goroutines.
func (w *uringWorker) collect() {
	w.woken.Store(false)
	w.mu.Lock()
	w.newAdds, w.adds = w.adds, w.newAdds[:0]
	for s := range w.dirty {
		w.pending[s] = struct{}{}
		delete(w.dirty, s)
	}
	w.mu.Unlock()
	for i, up := range w.newAdds {
		w.newAdds[i] = nil
		w.attach(up)
	}
}

func (w *uringWorker) attach(up *uringPlayer) {
	if n := len(w.free); n > 0 {
		up.slot = w.free[n-1]
		w.free = w.free[:n-1]
		w.slots[up.slot] = up
	} else {
		up.slot = len(w.slots)
		w.slots = append(w.slots, up)
	}
	w.live++
	s := up.p.stream
	w.streams[s] = append(w.streams[s], up)
	w.pending[s] = struct{}{}
	if pending := up.p.inputPending; len(pending) > 0 {
		up.p.inputPending = nil
		w.input(up, pending)
	}
	w.armRecv(up)
}

func (w *uringWorker) armRecv(up *uringPlayer) {
	if up.closing || up.recvArmed {
		return
	}
	sqe := w.getSQE()
	if sqe == nil {
		return // retried by the next pass over the stream
	}
	sqe.PrepRecvMultishot(up.fd, recvGroup, 0)
	sqe.SetUserData(userData(opRecv, up.slot))
	up.recvArmed = true
}

// pass starts a write for every player of s that has none in flight.
func (w *uringWorker) pass(s *Stream, now time.Time) {
	ups := w.streams[s]
	if len(ups) == 0 {
		w.dropStream(s)
		return
	}
	w.view.take(&s.log)
	floor := noPos
	for _, up := range ups {
		p := up.p
		if up.closing {
			continue
		}
		if p.closed.Load() || p.gone.Load() {
			w.beginClose(up, nil)
			continue
		}
		if !up.recvArmed {
			w.armRecv(up)
		}
		if up.inflight {
			if now.Sub(up.sentAt) > w.t.cfg.SlowTimeout {
				p.disconnectSlow("a write did not complete within the slow timeout")
				w.beginClose(up, nil)
				continue
			}
		} else {
			w.startWrite(up, now)
		}
		if !p.waiting {
			floor = min(floor, p.cursor)
		}
	}
	w.view.release()
	s.log.setFloor(w.id, floor)
}

func (w *uringWorker) dropStream(s *Stream) {
	delete(w.streams, s)
	s.log.setFloor(w.id, noPos)
}

// startWrite plans the player's next range and submits it.
func (w *uringWorker) startWrite(up *uringPlayer, now time.Time) {
	st, ok := up.p.plan(&w.view, now)
	if !ok {
		return
	}
	// Bound the write: a slow reader's write stays in flight until its
	// socket drains, and only a completed write lets the lag policy see it
	// and skip it to a keyframe; half the lag window keeps that possible.
	st.to = min(st.to, st.from+uint64(max(w.t.cfg.LagWindow/2, blockSize)))
	iov := st.iovecs(up.iov[:0], &w.view)
	if len(iov) > maxUringIov {
		iov = iov[:maxUringIov]
	}
	zc := w.t.mode == SendZC && !w.zcOff
	if zc && len(iov) > 1 {
		// One SEND_ZC at a time: cancelled links of a zero-copy chain post
		// notifications their results do not announce, so chains of them
		// cannot be accounted for reliably.
		iov = iov[:1]
	}
	if len(iov) == 0 {
		up.p.advance(st, 0, now)
		return
	}
	// Clip the step to what the iovecs cover, so that a completion which
	// takes everything means the step is done.
	covered := uint64(0)
	for _, v := range iov {
		covered += v.Len
	}
	covered -= uint64(len(st.prefix))
	st.to = st.from + covered
	up.niov = len(iov)
	w.pinRange(up, st.from, st.to)
	up.st, up.inflight, up.sentAt = st, true, now
	up.written, up.broken, up.results = 0, false, 0
	switch {
	case w.t.mode == SendWritev || !w.fixed:
		w.submitWritev(up, iov)
	case zc:
		w.submitSendZC(up, iov[0])
	default:
		w.submitChain(up, iov)
	}
}

func (w *uringWorker) pinRange(up *uringPlayer, from, to uint64) {
	up.npins = 0
	if from >= to {
		return
	}
	first := w.view.blocks[0].start
	for i := int((from - first) / blockSize); i < len(w.view.blocks) && up.npins < maxUringIov; i++ {
		b := w.view.blocks[i]
		if b.start >= to {
			break
		}
		b.pin()
		up.pins[up.npins] = b
		up.npins++
	}
}

func (w *uringWorker) unpin(up *uringPlayer) {
	for i := range up.npins {
		up.pins[i].unpin()
		up.pins[i] = nil
	}
	up.npins = 0
}

func (w *uringWorker) submitWritev(up *uringPlayer, iov []unix.Iovec) {
	sqe := w.getSQE()
	if sqe == nil {
		w.abortWrite(up)
		return
	}
	sqe.PrepWritev(up.fd, iov, 0)
	sqe.SetUserData(userData(opWrite, up.slot))
	up.results = 1
}

// submitSendZC sends one piece without copying it; its notification says
// when the memory is free again.
func (w *uringWorker) submitSendZC(up *uringPlayer, v unix.Iovec) {
	sqe := w.getSQE()
	if sqe == nil {
		w.abortWrite(up)
		return
	}
	buf := iovecBytes(v)
	if idx, fixed := w.registeredIndex(buf); fixed {
		sqe.PrepSendZCFixed(up.fd, buf, unix.MSG_NOSIGNAL, 0, idx)
	} else {
		sqe.PrepSendZC(up.fd, buf, unix.MSG_NOSIGNAL, 0)
	}
	sqe.SetUserData(userData(opWrite, up.slot))
	up.results = 1
}

// submitChain writes each iovec with its own SQE, linked so they go out in
// order: registered blocks with WRITE_FIXED, the join prefix (not
// registered) with a plain WRITE.
func (w *uringWorker) submitChain(up *uringPlayer, iov []unix.Iovec) {
	if w.ring.SQSpace() < uint32(len(iov)) {
		w.ring.Submit()
		if w.ring.SQSpace() < uint32(len(iov)) {
			w.abortWrite(up)
			return
		}
	}
	for i, v := range iov {
		buf := iovecBytes(v)
		sqe := w.ring.GetSQE()
		if idx, fixed := w.registeredIndex(buf); fixed {
			sqe.PrepWriteFixed(up.fd, buf, 0, idx)
		} else {
			sqe.PrepWrite(up.fd, buf, 0)
		}
		sqe.SetUserData(userData(opWrite, up.slot))
		if i < len(iov)-1 {
			sqe.SetFlags(uring.SQEIOLink)
		}
	}
	up.results = len(iov)
}

// registeredIndex finds the registered buffer that holds buf, if any.
func (w *uringWorker) registeredIndex(buf []byte) (uint16, bool) {
	if len(buf) == 0 {
		return 0, false
	}
	p := uintptr(unsafe.Pointer(&buf[0]))
	for _, b := range w.view.blocks {
		lo := uintptr(unsafe.Pointer(&b.buf[0]))
		if p >= lo && p < lo+blockSize {
			return uint16(b.idx), b.idx >= 0
		}
	}
	return 0, false
}

func iovecBytes(v unix.Iovec) []byte { return unsafe.Slice(v.Base, v.Len) }

// abortWrite undoes a write that could not be queued; the next pass retries.
func (w *uringWorker) abortWrite(up *uringPlayer) {
	w.unpin(up)
	up.inflight = false
	w.pending[up.p.stream] = struct{}{}
}

// complete handles one CQE.
func (w *uringWorker) complete(c uring.CQE) bool {
	kind, slot := c.UserData>>opShift, int(c.UserData&(1<<opShift-1))
	switch kind {
	case opWake:
		if err := w.armWake(); err != nil {
			w.t.log.Error("io_uring wake re-arm failed", "err", err)
		}
		return true
	}
	if slot >= len(w.slots) || w.slots[slot] == nil {
		return true
	}
	up := w.slots[slot]
	switch kind {
	case opWrite:
		w.writeDone(up, c)
	case opRecv:
		w.recvDone(up, c)
	}
	w.maybeFinish(up)
	return true
}

func (w *uringWorker) writeDone(up *uringPlayer, c uring.CQE) {
	if c.Notif() {
		up.notifs--
	} else {
		up.results--
		if c.More() {
			up.notifs++
		}
		switch {
		case c.Res == -int32(unix.ECANCELED) && up.broken:
		case c.Res == -int32(unix.EAGAIN):
			up.broken = true // nothing more of this chain went out
		case c.Res == -int32(unix.EOPNOTSUPP) && w.t.mode == SendZC:
			// Some kernels do not mark accepted TCP sockets zero-copy
			// capable (6.18 here): fall back to WRITE_FIXED, once.
			if !w.zcOff {
				w.zcOff = true
				w.t.log.Warn("SEND_ZC unsupported on this kernel's accepted sockets; using write_fixed", "worker", w.id)
			}
			up.broken = true
		case c.Res < 0:
			if !up.closing {
				w.beginClose(up, fmt.Errorf("write: %w", syscall.Errno(-c.Res)))
			}
			up.broken = true
		case !up.broken:
			up.written += int(c.Res)
			if w.t.mode == SendWriteFixed || w.zcOff {
				// In a chain, a short link cancels the rest.
				up.broken = up.results > 0 && !w.linkComplete(up)
			}
		}
	}
	if up.results > 0 || up.notifs > 0 {
		return
	}
	w.unpin(up)
	up.inflight = false
	now := time.Now()
	want := int(up.st.to-up.st.from) + len(up.st.prefix)
	w.t.stats.Writes.Add(1)
	w.t.stats.BytesWritten.Add(uint64(up.written))
	if up.written < want {
		w.t.stats.ShortWrites.Add(1)
	}
	if !up.closing {
		up.p.advance(up.st, up.written, now)
		w.pending[up.p.stream] = struct{}{}
	}
}

// linkComplete reports whether the bytes written so far end exactly at a
// link boundary of the chain (so no link came back short).
func (w *uringWorker) linkComplete(up *uringPlayer) bool {
	total := 0
	for _, v := range up.iov[:up.niov] {
		if total == up.written {
			return true
		}
		total += int(v.Len)
		if total > up.written {
			return false
		}
	}
	return total == up.written
}

func (w *uringWorker) recvDone(up *uringPlayer, c uring.CQE) {
	if !c.More() {
		up.recvArmed = false
	}
	data, id, ok := w.bufs.Data(c)
	switch {
	case ok:
		w.t.stats.Recvs.Add(1)
		if len(data) > 0 {
			w.input(up, data)
		}
		w.bufs.Recycle(id)
		if c.Res == 0 && !up.closing {
			w.beginClose(up, io.EOF) // orderly end
		}
	case c.Res == 0:
		if !up.closing {
			w.beginClose(up, io.EOF)
		}
	case c.Res == -int32(unix.ENOBUFS):
		// Input outran the shared buffers: re-armed on the next pass.
		w.pending[up.p.stream] = struct{}{}
	case c.Res < 0 && c.Res != -int32(unix.ECANCELED):
		if !up.closing {
			w.beginClose(up, syscall.Errno(-c.Res))
		}
	}
}

// input continues the session's parsing of what the player sent and hands
// each message to the session, as its own reader would have: acks and pings
// are absorbed, closeStream or deleteStream closes the player, a command out
// of order is an error.
func (w *uringWorker) input(up *uringPlayer, data []byte) {
	p := up.p
	if p.input == nil || up.closing {
		return
	}
	err := p.input.Feed(data, func(m *rtmp.Message) error {
		if p.sess == nil {
			return nil
		}
		return p.sess.Input(m)
	})
	switch {
	case err != nil:
		w.beginClose(up, err)
	case p.closed.Load():
		w.beginClose(up, io.EOF) // the player stopped the stream
	}
}

// beginClose shuts the socket down so that every operation in flight on it
// completes; the player is finished once they have.
func (w *uringWorker) beginClose(up *uringPlayer, err error) {
	if up.closing {
		return
	}
	up.closing, up.endErr = true, err
	up.p.gone.Store(true)
	unix.Shutdown(int(up.fd), unix.SHUT_RDWR)
	w.maybeFinish(up)
}

// maybeFinish releases a closing player once nothing is in flight.
func (w *uringWorker) maybeFinish(up *uringPlayer) {
	if !up.closing || up.inflight || up.recvArmed || w.slots[up.slot] != up {
		return
	}
	w.unpin(up)
	w.slots[up.slot] = nil
	w.free = append(w.free, up.slot)
	w.live--
	s := up.p.stream
	ups := w.streams[s]
	for i, x := range ups {
		if x == up {
			ups[i] = ups[len(ups)-1]
			ups[len(ups)-1] = nil
			w.streams[s] = ups[:len(ups)-1]
			break
		}
	}
	if len(w.streams[s]) == 0 {
		w.dropStream(s)
	}
	p := up.p
	p.conn.Close()
	p.Close()
	if p.sess != nil {
		p.sess.Finish(up.endErr)
	}
}

// shutdownAll starts closing every player (transport shutdown).
func (w *uringWorker) shutdownAll() {
	w.collect()
	for _, up := range w.slots {
		if up != nil && !up.closing {
			w.beginClose(up, nil)
		}
	}
}

// closeAllNow releases every player without waiting for the ring (it
// failed).
func (w *uringWorker) closeAllNow(err error) {
	for _, up := range w.slots {
		if up == nil {
			continue
		}
		up.closing, up.inflight, up.recvArmed, up.endErr = true, false, false, err
		w.maybeFinish(up)
	}
}
