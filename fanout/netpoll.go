package fanout

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// NetpollStats are the netpoll transport's counters.
type NetpollStats struct {
	Writevs      atomic.Uint64 // writev system calls
	ShortWrites  atomic.Uint64 // writes that did not take everything
	WouldBlock   atomic.Uint64 // writes refused with EAGAIN
	BytesWritten atomic.Uint64
	// WriteSizes counts writes by size, bucket WriteSizeBucket(n): the
	// batches the flush policy achieves, at one atomic add per write.
	WriteSizes [WriteSizeBuckets]atomic.Uint64
}

// Netpoll is the transport on Go's own network poller: a few sender
// workers, each owning a shard of the players; one non-blocking writev of
// wire-log slices per player per flush. A player whose socket is full is
// retried shortly after, never waited on, so one slow player costs the
// others nothing.
type Netpoll struct {
	workers   []*netpollWorker
	next      atomic.Uint32
	stats     NetpollStats
	wg        sync.WaitGroup
	done      chan struct{}
	closeOnce sync.Once
	flush     FlushPolicy
	tick      time.Duration
}

// retryDelay is how soon a player with unsent bytes is tried again.
const retryDelay = 5 * time.Millisecond

// NewNetpoll starts a netpoll transport with cfg's worker count and flush
// policy.
func NewNetpoll(cfg Config) *Netpoll {
	cfg.withDefaults()
	n := cfg.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	t := &Netpoll{done: make(chan struct{}), flush: cfg.Flush, tick: cfg.FlushInterval}
	for i := 0; i < n; i++ {
		w := &netpollWorker{t: t, id: i, wake: make(chan struct{}, 1),
			dirty: map[*Output]struct{}{}, outputs: map[*Output][]*Player{}, retry: map[*Output]struct{}{}}
		t.workers = append(t.workers, w)
		t.wg.Add(1)
		go w.run()
	}
	return t
}

// Name implements Transport.
func (t *Netpoll) Name() string { return "netpoll" }

// Stats are the transport's counters.
func (t *Netpoll) Stats() *NetpollStats { return &t.stats }

// Add implements Transport.
func (t *Netpoll) Add(p *Player) error {
	sc, ok := p.conn.(syscall.Conn)
	if !ok {
		return errors.New("fanout: netpoll transport needs a connection with a file descriptor")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	p.raw = raw
	w := t.workers[int(t.next.Add(1))%len(t.workers)]
	w.mu.Lock()
	w.adds = append(w.adds, p)
	w.mu.Unlock()
	w.signal()
	return nil
}

// Flush implements Transport.
func (t *Netpoll) Flush(o *Output) {
	for _, w := range t.workers {
		w.mu.Lock()
		w.dirty[o] = struct{}{}
		w.mu.Unlock()
		w.signal()
	}
}

// Close implements Transport.
func (t *Netpoll) Close() error {
	t.closeOnce.Do(func() { close(t.done) })
	t.wg.Wait()
	return nil
}

type netpollWorker struct {
	t    *Netpoll
	id   int
	wake chan struct{}

	mu    sync.Mutex
	adds  []*Player
	dirty map[*Output]struct{}

	// Owned by the worker goroutine.
	outputs  map[*Output][]*Player // players by the wire log they read
	retry    map[*Output]struct{}
	pending  map[*Output]bool // output → whether every player is due (else only those behind)
	newAdds  []*Player
	view     logView
	iov      []unix.Iovec
	curN     int
	curErrno syscall.Errno
	writeFn  func(fd uintptr) bool
}

func (w *netpollWorker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *netpollWorker) run() {
	defer w.t.wg.Done()
	w.pending = map[*Output]bool{}
	w.iov = make([]unix.Iovec, 0, maxIovecs+1)
	w.writeFn = w.writev
	var tick <-chan time.Time
	if w.t.flush == FlushInterval {
		tk := time.NewTicker(w.t.tick)
		defer tk.Stop()
		tick = tk.C
	}
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		all := false
		select {
		case <-w.t.done:
			return
		case <-w.wake:
		case <-tick:
			all = true
		case <-retry.C:
		}
		w.collect(all)
		for o, all := range w.pending {
			w.pass(o, all, time.Now())
			delete(w.pending, o)
		}
		if len(w.retry) > 0 {
			retry.Reset(retryDelay)
		}
	}
}

// collect gathers the streams to pass over: flushed ones, ones with
// players behind, and on an interval tick all of them.
func (w *netpollWorker) collect(all bool) {
	w.mu.Lock()
	w.newAdds, w.adds = w.adds, w.newAdds[:0]
	for o := range w.dirty {
		w.pending[o] = true
		delete(w.dirty, o)
	}
	w.mu.Unlock()
	for i, p := range w.newAdds {
		w.outputs[p.out] = append(w.outputs[p.out], p)
		w.pending[p.out] = true
		w.newAdds[i] = nil
	}
	for o := range w.retry {
		if !w.pending[o] {
			w.pending[o] = false // only the players that are behind
		}
		delete(w.retry, o)
	}
	if all {
		for o := range w.outputs {
			w.pending[o] = true
		}
	}
}

// pass writes to the players of o in this worker's shard: all of them on
// a flush, or only those left behind by a full socket on a retry, so that
// one slow player does not turn everyone's batches into 5 ms ones.
func (w *netpollWorker) pass(o *Output, all bool, now time.Time) {
	players := w.outputs[o]
	if len(players) == 0 {
		w.dropOutput(o)
		return
	}
	w.view.take(&o.wire)
	behind := false
	floor := noPos
	for i := 0; i < len(players); {
		p := players[i]
		if p.closed.Load() {
			last := len(players) - 1
			players[i], players[last] = players[last], nil
			players = players[:last]
			continue
		}
		if all || p.behind() || len(p.prefix) > 0 {
			w.deliver(p, now)
		}
		if !p.gone.Load() && !p.waiting {
			if p.cursor < w.view.head || len(p.prefix) > 0 {
				behind = true
			}
			floor = min(floor, p.cursor)
		}
		i++
	}
	w.view.release()
	if len(players) == 0 {
		w.dropOutput(o)
		return
	}
	o.wire.setFloor(w.id, floor)
	w.outputs[o] = players
	if behind {
		w.retry[o] = struct{}{}
	}
}

// dropOutput forgets an output this worker no longer has players of.
func (w *netpollWorker) dropOutput(o *Output) {
	delete(w.outputs, o)
	o.wire.setFloor(w.id, noPos)
}

// deliver writes to p until its socket is full or it is caught up; at
// most a few non-blocking writevs (a second one follows only when the first
// was complete, e.g. at a publisher change or after finishing a message
// before a skip).
func (w *netpollWorker) deliver(p *Player, now time.Time) {
	for range 3 {
		if !w.deliverOnce(p, now) {
			return
		}
	}
}

// deliverOnce makes one writev and reports whether it took everything.
func (w *netpollWorker) deliverOnce(p *Player, now time.Time) bool {
	st, ok := p.plan(&w.view, now)
	if !ok {
		return false
	}
	w.iov = st.iovecs(w.iov[:0], &w.view)
	if len(w.iov) == 0 {
		p.advance(st, 0, now)
		return false
	}
	w.curN, w.curErrno = 0, 0
	if err := p.raw.Write(w.writeFn); err != nil {
		p.disconnect("write: " + err.Error())
		return false
	}
	w.t.stats.Writevs.Add(1)
	switch w.curErrno {
	case 0:
	case unix.EAGAIN, unix.EINTR:
		w.t.stats.WouldBlock.Add(1)
		p.advance(st, 0, now)
		return false
	default:
		p.disconnect("writev: " + w.curErrno.Error())
		return false
	}
	w.t.stats.BytesWritten.Add(uint64(w.curN))
	w.t.stats.WriteSizes[WriteSizeBucket(w.curN)].Add(1)
	want := st.to - st.from + uint64(len(st.prefix))
	p.advance(st, w.curN, now)
	if uint64(w.curN) < want {
		w.t.stats.ShortWrites.Add(1)
		return false
	}
	return p.cursor < w.view.head
}

// writev is the RawConn callback: one attempt, never a wait, so that a
// full socket buffer shows up as EAGAIN instead of blocking the worker.
func (w *netpollWorker) writev(fd uintptr) bool {
	n, _, errno := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
	if errno != 0 {
		w.curErrno = errno
		return true
	}
	w.curN = int(n)
	return true
}
