package fanout

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bbllive/bbllive/uring"
	"golang.org/x/sys/unix"
)

// SendMode is the io_uring operation that writes wire-log bytes to players.
type SendMode int

// The send modes.
const (
	// SendWritev submits one WRITEV per player per flush covering its whole
	// range. Fastest measured on loopback here (README, io_uring transport), so the default.
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
	Recvs           atomic.Uint64 // receive completions (players and publishers)
	// WriteSizes counts writes by size, bucket WriteSizeBucket(n).
	WriteSizes [WriteSizeBuckets]atomic.Uint64
}

// Uring is the transport on io_uring: one worker per core, each a goroutine
// on a locked OS thread with its own ring; players and publishers are
// sharded across them. A player has at most one write in flight, covering
// everything from its cursor to the head; its completion submits the next.
// Input — a player's acknowledgements and commands, a publisher's media —
// arrives through multishot RECV into provided-buffer rings and continues
// the session's chunk parsing on the worker. Flushes wake the workers
// through an eventfd they park on (uring_worker.go says why), once per
// flush.
type Uring struct {
	cfg     Config
	logger  *slog.Logger
	idle    time.Duration
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
	// registered with every ring for the fixed-buffer modes
	// (DefaultRegisteredBytes when 0), in blocks of RegisteredBlock bytes,
	// at most MaxRegisteredBytes.
	RegisteredBytes int
	// Logger receives worker failures.
	Logger *slog.Logger
	// IdleTimeout closes a publisher that sends nothing for this long (the
	// rtmp server's -idle-timeout; default 30 s).
	IdleTimeout time.Duration
}

// Registered wire-log memory: 64 MiB by default, in blocks of the wire
// log; io_uring registers at most 16384 buffers (IORING_MAX_REG_BUFFERS),
// one per block.
const (
	DefaultRegisteredBytes = 64 << 20
	RegisteredBlock        = blockSize
	MaxRegisteredBytes     = 1 << 14 * blockSize
)

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
	t := &Uring{cfg: cfg, mode: opts.Mode, logger: opts.Logger, idle: opts.IdleTimeout}
	if t.idle <= 0 {
		t.idle = 30 * time.Second
	}
	if t.logger == nil {
		t.logger = slog.Default()
	}
	var arena [][]byte
	if opts.Mode != SendWritev {
		n := opts.RegisteredBytes
		if n <= 0 {
			n = DefaultRegisteredBytes
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
// included, once the player's session goroutine hands it over (TakeConn).
func (t *Uring) Add(p *Player) error {
	fd, raw, err := t.own(p.conn)
	if err != nil {
		return err
	}
	p.raw, p.owned = raw, true
	uc := &uringConn{p: p, sess: p.sess, fd: fd}
	if p.sess == nil { // no session to wait for (tests)
		t.attach(uc)
		return nil
	}
	p.start = func() { t.attach(uc) }
	return nil
}

// addPublisher makes the publisher's reads io_uring receives: its input is
// parsed and ingested on a worker, with no goroutine per publisher.
//
// The ring reads a duplicate of the descriptor and the net.Conn is closed:
// while Go's poller keeps a socket registered it wakes for every packet that
// arrives on it (edge-triggered, even with nobody waiting), which for a
// publisher was 150 epoll_pwait calls a second — most of what a server
// flushing every 350 ms did. The session writes its acknowledgements and
// replies through the duplicate.
func (t *Uring) addPublisher(p *publisher) error {
	if _, _, err := t.own(p.sess.Conn()); err != nil {
		return err
	}
	p.owned = true
	p.start = func() {
		fd, err := dupConn(p.sess.Conn())
		if err != nil {
			t.logger.Warn("publisher connection not moved to io_uring", "err", err)
			p.sess.Conn().Close()
			return
		}
		p.sess.SetOutput(fdWriter(fd))
		p.sess.Conn().Close()
		t.attach(&uringConn{pub: p, sess: p.sess, fd: fd, ownFD: true})
	}
	return nil
}

// dupConn duplicates a connection's descriptor (close-on-exec).
func dupConn(c net.Conn) (int32, error) {
	raw, err := rawConnOf(c)
	if err != nil {
		return 0, err
	}
	var fd int
	var derr error
	if err := raw.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return 0, err
	}
	return int32(fd), derr
}

// dupCloser is a connection that closes duplicates of its descriptor
// itself: the server's TCP_INFO figures take a socket's final reading just
// before its last descriptor closes (cmd/bbllive/figures.go), and a
// publisher's last is the worker's duplicate, closed long after the
// net.Conn.
type dupCloser interface {
	CloseDup(fd int) error
}

// closeDup closes fd, a duplicate of c's descriptor, through c when it
// asks to.
func closeDup(c net.Conn, fd int32) {
	if d, ok := c.(dupCloser); ok {
		d.CloseDup(int(fd))
		return
	}
	unix.Close(int(fd))
}

// fdWriter writes to a non-blocking socket descriptor, waiting for room
// when it is full: it carries a publisher's acknowledgements and replies,
// a few bytes now and then.
type fdWriter int32

func (w fdWriter) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Write(int(w), b[n:])
		switch {
		case err == unix.EAGAIN:
			pfd := []unix.PollFd{{Fd: int32(w), Events: unix.POLLOUT}}
			if k, perr := unix.Poll(pfd, 5000); perr != nil || k == 0 {
				return n, fmt.Errorf("fanout: publisher socket not writable: %v", perr)
			}
		case err == unix.EINTR:
		case err != nil:
			return n, err
		default:
			n += m
		}
	}
	return n, nil
}

// own checks that a connection can go to a ring and returns its
// descriptor. The descriptor stays non-blocking: the ring then waits for
// room with a poll and completes a write short, with what the socket took,
// instead of handing a blocking write to a kernel worker thread that returns
// only when everything is sent; short completions are what let a slow
// player's lag be seen and acted on. Kernels that answer EAGAIN instead are
// retried at the next pass.
func (t *Uring) own(c net.Conn) (int32, syscall.RawConn, error) {
	if t.closing.Load() {
		return 0, nil, errors.New("fanout: transport is closing")
	}
	raw, err := rawConnOf(c)
	if err != nil {
		return 0, nil, err
	}
	var fd int
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return 0, nil, err
	}
	return int32(fd), raw, nil
}

// attach hands a connection to the next worker. It runs on the session's
// goroutine after that goroutine stopped using the connection, so taking
// the session's input here is safe.
func (t *Uring) attach(uc *uringConn) {
	if uc.sess != nil {
		uc.input, uc.pending = uc.sess.DetachInput()
	}
	w := t.workers[int(t.next.Add(1))%len(t.workers)]
	w.mu.Lock()
	w.adds = append(w.adds, uc)
	w.mu.Unlock()
	w.wake()
}

// Flush implements Transport.
func (t *Uring) Flush(o *Output) {
	for _, w := range t.workers {
		w.mu.Lock()
		w.dirty[o] = struct{}{}
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

// rawConnOf is the descriptor access of a connection that has one.
func rawConnOf(c net.Conn) (syscall.RawConn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.New("fanout: io_uring transport needs a connection with a file descriptor")
	}
	return sc.SyscallConn()
}
