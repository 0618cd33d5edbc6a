package fanout

import (
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bbllive/bbllive/fanout/access"
	"github.com/bbllive/bbllive/rtmp"
	"golang.org/x/sys/unix"
)

// Player is a cursor into its Output's wire log plus what its transport
// needs to write to the connection. Its delivery state is owned by one sender
// worker at a time; only closed and the counters are shared.
type Player struct {
	// What every write touches comes first, in as few cache lines as
	// possible: at a per-message flush a worker visits each of a thousand
	// players per message, and each visit starts on cold memory.
	stream      *Stream
	out         *Output // the stream's output in this player's format
	cursor      uint64  // owned by the sender, as the rest up to closed
	prefix      []byte  // join prefix still to send, before cursor's bytes
	epoch       uint64
	behindSince time.Time
	waiting     bool // waiting for a keyframe to start at
	started     bool // first media written
	joinedOnce  bool // has been given a join prefix (a file header, if its format has one)

	closed    atomic.Bool
	gone      atomic.Bool // disconnect already requested
	BytesSent atomic.Uint64

	waitFrom uint64    // log head when it began waiting (sender's)
	joined   time.Time // (sender's)

	sess   *rtmp.Session
	conn   net.Conn
	raw    syscall.RawConn
	id     uint64
	cookie uint64 // SO_COOKIE of conn, 0 if none

	protocol string // Viewer.Protocol
	input    Input  // what reads a non-RTMP client's input, or nil

	// A message of the player's own (a WebSocket pong or close frame),
	// written between two records of the log, and whether the player ends
	// once it is sent (closeAfter is the sender's).
	control    atomic.Pointer[controlMsg]
	closeAfter bool

	// owned is set when the transport takes the whole connection (reads
	// too), so the session goroutine ends; input continues the session's
	// chunk parsing from where it stopped.
	owned bool
	start func() // the transport's take-over, run by TakeConn

	Skips atomic.Uint64

	admission *access.Admission // access control's hold, released at Close
	release   func()            // its interest in the stream (hooks.go)

	// log is the logger of a player without an RTMP session (Viewer.LogAttrs),
	// which also logs its end; a session logs its own.
	log       *slog.Logger
	endReason atomic.Pointer[string] // why the server disconnected it, if it did
}

// Close stops delivery to the player; the session calls it when the
// connection ends or the client stops playing. An Input that is an
// io.Closer is closed with it.
func (p *Player) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	if c, ok := p.input.(io.Closer); ok {
		c.Close()
	}
	p.stream.removePlayer(p)
	p.stream.hub.flushOutput(p.out)
	p.admission.Done()
	if p.release != nil {
		p.release()
	}
	p.logEnd(p.closeReason())
	return nil
}

// logStart logs the start of a player without an RTMP session with the
// line an RTMP session's play is logged with ("playing"), so that every
// player's start reads the same.
func (p *Player) logStart() {
	if p.sess == nil && p.log != nil {
		p.log.Info("playing")
	}
}

// logEnd logs the end of a player without an RTMP session with the line an
// RTMP session ends with (rtmp.Session.Finish: "session closed", reason).
func (p *Player) logEnd(reason string, attrs ...any) {
	if p.sess == nil && p.log != nil {
		p.log.Info("session closed", append([]any{"reason", reason}, attrs...)...)
	}
}

// closeReason is why the player ended: the server's reason when it
// disconnected the player (slow, kicked, …), else "closed" (the client
// left, or the transport shut down).
func (p *Player) closeReason() string {
	if r := p.endReason.Load(); r != nil {
		return *r
	}
	return "closed"
}

type controlMsg struct {
	b          []byte
	closeAfter bool
}

// SendControl has the transport write b to this player alone, at the next
// boundary between two records of its log so that it never lands inside
// one (a WebSocket pong or close frame goes between two frames); with
// thenClose the player is disconnected once b is sent. Messages not yet
// sent are kept in order. It is for rare replies, not media: media is
// written once for all players of a format.
func (p *Player) SendControl(b []byte, thenClose bool) {
	p.queueControl(b, thenClose)
	p.stream.hub.flushOutput(p.out)
}

func (p *Player) queueControl(b []byte, thenClose bool) {
	for {
		old := p.control.Load()
		c := &controlMsg{b: b, closeAfter: thenClose}
		if old != nil {
			c.b = append(append([]byte(nil), old.b...), b...)
			c.closeAfter = old.closeAfter || thenClose
		}
		if p.control.CompareAndSwap(old, c) {
			return
		}
	}
}

// controlStep takes the pending control message when the player is
// between two records, or else finishes the record it is in.
func (p *Player) controlStep(v *logView) (st step, ok bool) {
	if p.control.Load() == nil || len(p.prefix) > 0 {
		return st, false
	}
	if !p.waiting {
		if end, atStart := p.out.wire.messageEnd(p.cursor); !atStart {
			return p.rangeTo(v, end), true // finish the record first
		}
	}
	c := p.control.Swap(nil)
	if c == nil {
		return st, false
	}
	p.prefix, p.closeAfter = c.b, c.closeAfter
	return step{prefix: p.prefix, from: p.cursor, to: p.cursor, head: v.head}, true
}

// Protocol is the protocol the player arrived by (Viewer.Protocol).
func (p *Player) Protocol() string { return p.protocol }

// Feed passes what the client sent to the player's Input (a caller that
// reads the connection itself uses it; see Hub.PlayConn).
func (p *Player) Feed(b []byte) error {
	if p.input == nil {
		return nil
	}
	return p.input.Feed(p, b)
}

// OwnsConn tells the session whether the transport takes the connection
// whole (io_uring reads player input itself).
func (p *Player) OwnsConn() bool { return p.owned }

// TakeConn is called by the session once it stopped using the connection.
func (p *Player) TakeConn() {
	if p.start != nil {
		p.start()
	}
}

// disconnect shuts the player's connection down. Whoever reads it — the
// session goroutine, or an io_uring receive — then sees the end and
// releases the player; shutdown rather than close keeps the descriptor
// valid for operations still in flight.
func (p *Player) disconnect(reason string) {
	if p.gone.Swap(true) {
		return
	}
	p.logger().Info("disconnecting player", "reason", reason)
	p.endReason.Store(&reason)
	if p.sess != nil {
		p.sess.CloseReason(reason)
	}
	shutdownConn(p.conn)
}

// Disconnect ends the player's connection, logging reason, as the server
// does to a slow player: for a protocol's own judgement that the client is
// gone (a WebSocket peer answering no ping).
func (p *Player) Disconnect(reason string) { p.disconnect(reason) }

// Logger is the logger of the player's lines: its RTMP session's, or for
// another protocol one with the same attributes (Viewer.LogAttrs).
func (p *Player) Logger() *slog.Logger { return p.logger() }

func (p *Player) logger() *slog.Logger {
	switch {
	case p.sess != nil:
		return p.sess.Logger()
	case p.log != nil:
		return p.log
	}
	return p.stream.logger()
}

// step is one write a sender should make for a player.
type step struct {
	prefix []byte
	from   uint64
	to     uint64
	head   uint64 // the log's head when planned: reaching it is keeping up
}

// plan decides what the player gets in this pass over view v: the start of
// a join (prefix, from a keyframe), its next range up to the head, the rest
// of a message before a skip, or nothing. It also applies the slow-player
// policy. ok is false when there is nothing to write.
func (p *Player) plan(v *logView, now time.Time) (st step, ok bool) {
	if p.closed.Load() || p.gone.Load() {
		return st, false
	}
	if st, ok := p.controlStep(v); ok {
		return st, true
	}
	if p.epoch != v.epoch {
		if p.waiting || p.cursor >= v.epochStart || p.cursor < v.tail {
			p.epoch, p.waiting = v.epoch, true
			p.waitFrom = min(p.waitFrom, v.epochStart)
		} else {
			// Finish what the previous publisher left (its EOF notice) first.
			return p.rangeTo(v, v.epochStart), true
		}
	}
	if p.waiting {
		if v.keyPos == noPos || v.keyPos < v.tail || v.keyPos < v.epochStart || v.keyPos >= v.head {
			return st, false
		}
		p.waiting = false
		start, ts := v.keyPos, v.keyTS
		if v.firstKey != noPos && v.firstKey >= p.waitFrom && v.firstKey >= v.tail {
			// It was waiting before this publisher's first keyframe: start
			// there, so nothing this publisher sent is missed.
			start, ts = v.firstKey, v.firstKeyTS
		}
		p.cursor = start
		p.prefix = p.out.joinPrefix(start, ts, !p.joinedOnce)
		p.joinedOnce = true
	}
	if p.cursor < v.tail {
		p.disconnectSlow("fell out of the retained window")
		return st, false
	}
	// Only a player whose socket refused data is lagging; one that took
	// everything last time is just being offered what arrived since.
	if lag := v.head - p.cursor; p.behind() && lag > uint64(p.stream.hub.cfg.LagWindow) && v.keyPos != noPos && v.keyPos > p.cursor && v.keyPos >= v.tail {
		end, atStart := p.out.wire.messageEnd(p.cursor)
		if !atStart {
			return p.rangeTo(v, end), true // complete the message, skip next pass
		}
		p.cursor = v.keyPos
		p.Skips.Add(1)
		p.stream.stats.Skips.Add(1)
	}
	if p.cursor >= v.head && len(p.prefix) == 0 {
		p.behindSince = time.Time{}
		return st, false
	}
	return p.rangeTo(v, v.head), true
}

// behind reports whether the player's last write left data unsent.
func (p *Player) behind() bool { return !p.behindSince.IsZero() }

func (p *Player) rangeTo(v *logView, end uint64) step {
	return step{prefix: p.prefix, from: p.cursor, to: max(end, p.cursor), head: v.head}
}

// advance records that n bytes of st were written, and whether the player
// is keeping up.
func (p *Player) advance(st step, n int, now time.Time) {
	if n > 0 {
		p.BytesSent.Add(uint64(n))
		p.stream.stats.BytesOut.Add(uint64(n))
		if k := min(n, len(p.prefix)); k > 0 {
			p.prefix = p.prefix[k:]
			n -= k
		}
		if len(p.prefix) == 0 {
			p.prefix = nil
			if p.closeAfter {
				p.disconnect("closed")
				return
			}
		}
		p.cursor += uint64(n)
		if !p.started && p.cursor > st.from {
			p.started = true
			p.stream.stats.FirstFrameNanosTotal.Add(uint64(now.Sub(p.joined)))
			p.stream.hub.firstFrame.observe(now.Sub(p.joined))
		}
	}
	if p.cursor >= st.head && len(p.prefix) == 0 {
		p.behindSince = time.Time{}
		return
	}
	if p.cursor >= st.to && len(p.prefix) == 0 {
		// The socket took all it was offered; the step was cut short by
		// the sender (a bounded write, the end of a message before a
		// skip), not refused. That alone is not falling behind.
		return
	}
	p.fellBehind(now)
}

// fellBehind records that the player's socket did not take all it was
// offered, and drops a player that has been behind for the slow timeout.
func (p *Player) fellBehind(now time.Time) {
	if p.behindSince.IsZero() {
		p.behindSince = now
	} else if now.Sub(p.behindSince) > p.stream.hub.cfg.SlowTimeout {
		p.disconnectSlow("behind for longer than the slow timeout")
	}
}

// markBehind records that the player's socket is refusing data (an
// io_uring write waits for room) without judging for how long: the next
// short write does, in fellBehind.
func (p *Player) markBehind(now time.Time) {
	if p.behindSince.IsZero() {
		p.behindSince = now
	}
}

func (p *Player) disconnectSlow(why string) {
	if p.gone.Load() {
		return
	}
	p.stream.stats.SlowDrops.Add(1)
	p.logger().Warn("slow player", "why", why)
	p.disconnect("slow")
}

// maxIovecs bounds one write (IOV_MAX is 1024 on Linux).
const maxIovecs = 1024

// iovecs builds the write for st over v into dst.
func (st *step) iovecs(dst []unix.Iovec, v *logView) []unix.Iovec {
	if len(st.prefix) > 0 {
		iov := unix.Iovec{Base: &st.prefix[0]}
		iov.SetLen(len(st.prefix))
		dst = append(dst, iov)
	}
	return v.appendIovecs(dst, st.from, st.to, maxIovecs)
}
