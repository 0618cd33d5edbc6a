package fanout

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// connWriter delivers to players whose connection is not a plain socket —
// a TLS connection (RTMPS): the netpoll and io_uring transports write a
// socket's descriptor directly, which for TLS would send plaintext, and
// kernel TLS (which would let them keep doing so) is not built into the
// kernels we run (docs/relay.md measures both). Each such player gets a
// goroutine that writes through its net.Conn: one Write per step, so no
// message of the session's own (a ping reply) lands inside another, and a
// slow TLS player blocks nothing but its own goroutine.
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
	cp := &connPlayer{p: p, id: int(-1 - c.nextID.Add(1)), wake: make(chan struct{}, 1)}
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
		for range 3 {
			st, ok := p.plan(&view, time.Now())
			if !ok {
				break
			}
			buf = st.appendBytes(buf[:0], &view)
			p.conn.SetWriteDeadline(time.Now().Add(cfg.SlowTimeout))
			var n int
			n, err = p.conn.Write(buf)
			p.advance(st, n, time.Now())
			if err != nil || p.cursor >= view.head {
				break
			}
		}
		if !p.waiting {
			o.wire.setFloor(cp.id, p.cursor)
		}
		view.release()
		if err != nil {
			p.disconnect("write: " + err.Error())
			return
		}
	}
}

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
