package fanout

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// connWriter delivers to players whose connection is not a plain socket —
// a TLS connection (RTMPS): the netpoll and io_uring transports write a
// socket's descriptor directly, which for TLS would send plaintext, and
// kernel TLS (which would let them keep doing so) is not built into the
// kernels we run (docs/relay.md measures both). Each such player gets a
// goroutine that writes through its net.Conn: one Write per step, so no
// message of the session's own (a ping reply) lands inside another, and a
// slow TLS player blocks nothing but its own goroutine. A TLS write cannot
// stop part way and resume, so before each bounded write the writer asks
// the socket underneath how much it takes now (room), which gives a TLS
// player the same slow-player policy as a plain one.
type connWriter struct {
	hub    *Hub
	nextID atomic.Int64 // floor ids, negative: never a worker's

	mu      sync.Mutex
	byOut   map[*Output]map[*connPlayer]struct{}
	closed  bool
	done    chan struct{}
	writers sync.WaitGroup
}

// connPlayer is one player of the connWriter.
type connPlayer struct {
	p    *Player
	id   int
	wake chan struct{}
	// sock is the socket under the player's connection (a TLS
	// connection's TCP socket), or nil when there is none to ask.
	sock syscall.RawConn
}

// connChunk bounds one write of a connWriter player: a TLS write blocks
// until it is all sent, so the writer goes back to the socket after at
// most this much to see how much room it has.
const connChunk = 64 << 10

// socketUnder finds the socket conn writes to through wrappers that
// expose theirs (*tls.Conn's NetConn), or nil.
func socketUnder(conn net.Conn) syscall.RawConn {
	for range 4 {
		if sc, ok := conn.(syscall.Conn); ok {
			raw, err := sc.SyscallConn()
			if err != nil {
				return nil
			}
			return raw
		}
		nc, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		conn = nc.NetConn()
	}
	return nil
}

// room is how many bytes of plaintext the player's socket takes now
// without blocking, as far as the kernel tells: half its send buffer (the
// kernel doubles what it is set to, for its own bookkeeping, and counts
// that against it) less what is queued, less the TLS records' overhead;
// -1 when there is no socket to ask. A TLS write cannot stop part way and
// resume, so this is what stands in for a plain player's non-blocking
// write: a player whose socket has less room than its step is behind, and
// the slow-player policy (skip to the newest keyframe past the lag window,
// drop past the slow timeout) then treats TLS players as plain ones.
func (cp *connPlayer) room() int {
	if cp.sock == nil {
		return -1
	}
	free := -1
	cp.sock.Control(func(fd uintptr) {
		sndbuf, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
		if err != nil {
			return
		}
		queued, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		if err != nil {
			return
		}
		free = sndbuf/2 - queued
		free -= free / 64 // a record header and tag per 16 KiB record at most
		free = max(free, 0)
	})
	return free
}

// hasFD reports whether conn is a socket the fast transports can write.
func hasFD(conn net.Conn) bool {
	_, ok := conn.(syscall.Conn)
	return ok
}

// connWriterOf returns the hub's connWriter, started on first use.
func (h *Hub) connWriterOf() *connWriter {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cw := h.conns.Load(); cw != nil {
		return cw
	}
	cw := &connWriter{hub: h, byOut: map[*Output]map[*connPlayer]struct{}{}, done: make(chan struct{})}
	h.conns.Store(cw)
	return cw
}

// transportFor is what delivers to a player on conn.
func (h *Hub) transportFor(conn net.Conn) Transport {
	if conn == nil || hasFD(conn) {
		return h.transport
	}
	return h.connWriterOf()
}

// flushOutput tells whoever delivers o's players that it has something new.
func (h *Hub) flushOutput(o *Output) {
	h.transport.Flush(o)
	if cw := h.conns.Load(); cw != nil { // one atomic load while nobody plays over TLS
		cw.Flush(o)
	}
}

// closeConnWriter stops the connWriter's goroutines.
func (h *Hub) closeConnWriter() {
	if cw := h.conns.Load(); cw != nil {
		cw.Close()
	}
}

// Name implements Transport.
func (c *connWriter) Name() string { return "conn" }

// Add implements Transport.
func (c *connWriter) Add(p *Player) error {
	cp := &connPlayer{p: p, id: int(-1 - c.nextID.Add(1)), wake: make(chan struct{}, 1), sock: socketUnder(p.conn)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errStreamGone
	}
	set := c.byOut[p.out]
	if set == nil {
		set = map[*connPlayer]struct{}{}
		c.byOut[p.out] = set
	}
	set[cp] = struct{}{}
	c.writers.Add(1)
	c.mu.Unlock()
	go c.run(cp)
	return nil
}

// Flush implements Transport.
func (c *connWriter) Flush(o *Output) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for cp := range c.byOut[o] {
		select {
		case cp.wake <- struct{}{}:
		default:
		}
	}
}

// Close implements Transport.
func (c *connWriter) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
	c.mu.Unlock()
	c.writers.Wait()
	return nil
}

// run writes to one player until it goes.
func (c *connWriter) run(cp *connPlayer) {
	defer c.writers.Done()
	p, o := cp.p, cp.p.out
	defer func() {
		o.wire.setFloor(cp.id, noPos)
		c.mu.Lock()
		if set := c.byOut[o]; set != nil {
			delete(set, cp)
			if len(set) == 0 {
				delete(c.byOut, o)
			}
		}
		c.mu.Unlock()
	}()
	cfg := &c.hub.cfg
	tick := time.NewTicker(cfg.FlushInterval)
	defer tick.Stop()
	var view logView
	var buf []byte
	for {
		select {
		case <-c.done:
			return
		case <-cp.wake:
		case <-tick.C:
		}
		if p.closed.Load() || p.gone.Load() {
			return
		}
		view.take(&o.wire)
		var err error
		for range maxConnSteps {
			st, ok := p.plan(&view, time.Now())
			if !ok {
				break
			}
			ws, refused, short := cp.bound(st)
			now := time.Now()
			if refused {
				p.advance(st, 0, now) // behind, as a plain player whose write took nothing
				break
			}
			buf = ws.appendBytes(buf[:0], &view)
			p.conn.SetWriteDeadline(now.Add(cfg.SlowTimeout))
			var n int
			n, err = p.conn.Write(buf)
			p.advance(ws, n, time.Now())
			if short && err == nil {
				p.fellBehind(now) // as a plain player whose write took part of its step
			}
			if err != nil || p.cursor >= view.head || short {
				break
			}
		}
		if !p.waiting {
			o.wire.setFloor(cp.id, p.cursor)
		}
		view.release()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				p.disconnectSlow("a write blocked for the slow timeout")
			} else {
				p.disconnect("write: " + err.Error())
			}
			return
		}
	}
}

// minConnWrite is the least room worth a write: below it the socket is
// taken as full and nothing is written until it drains.
const minConnWrite = 4 << 10

// bound is the part of st to write now, at most connChunk, and whether
// the socket refuses it (no room to speak of: write nothing) or is short
// of room for it. A short socket still gets the write, which blocks a
// moment: filling the send buffer is what lets the kernel grow it with
// the connection's window, which writes of only what fits would not.
func (cp *connPlayer) bound(st step) (ws step, refused, short bool) {
	ws = st
	ws.to = min(st.to, st.from+uint64(max(0, connChunk-len(st.prefix))))
	room := cp.room()
	if room < 0 || room >= len(st.prefix)+int(st.to-st.from) {
		return ws, false, false
	}
	return ws, room < minConnWrite, true
}

// maxConnSteps bounds the writes of one wake, so that the writer looks at
// its wake-ups and the hub's closing between them.
const maxConnSteps = 64

// appendBytes appends st's prefix and log range over v to dst: the one
// copy a TLS player costs, which its encryption makes anyway.
func (st *step) appendBytes(dst []byte, v *logView) []byte {
	dst = append(dst, st.prefix...)
	from, to := st.from, st.to
	if from >= to || len(v.blocks) == 0 {
		return dst
	}
	i := int((from - v.blocks[0].start) / blockSize)
	for from < to && i < len(v.blocks) {
		b := v.blocks[i]
		off := from - b.start
		n := min(uint64(blockSize)-off, to-from)
		dst = append(dst, b.buf[off:off+n]...)
		from += n
		i++
	}
	return dst
}
