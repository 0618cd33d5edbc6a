package fanout

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"

	"github.com/bbllive/bbllive/uring"
	"golang.org/x/sys/unix"
)

// maxUringIov bounds one player write: 16 blocks (1 MiB) plus the prefix.
const maxUringIov = 17

// pass starts a write for every player of o that has none in flight.
//
// It goes over the players twice. By the time a pass comes, every player's
// state is cold (the kernel's TCP work for a thousand sockets evicted it),
// and the first access to each is a cache miss: the first loop is kept
// short so the processor overlaps those misses across players instead of
// taking them one after another between long stretches of work; the
// second writes, on warm lines.
func (w *uringWorker) pass(o *Output, now time.Time) {
	ucs := w.outputs[o]
	if len(ucs) == 0 {
		w.dropOutput(o)
		return
	}
	todo, ending := w.todo[:0], w.ending[:0]
	for _, uc := range ucs {
		switch p := uc.p; {
		case uc.closing:
		case p.closed.Load() || p.gone.Load():
			ending = append(ending, uc)
		default:
			todo = append(todo, uc)
		}
	}
	w.view.take(&o.wire)
	floor := noPos
	for _, uc := range todo {
		p := uc.p
		if !uc.recvArmed {
			w.armRecv(uc)
		}
		if uc.inflight {
			if now.Sub(uc.sentAt) > w.t.cfg.SlowTimeout {
				p.disconnectSlow("a write did not complete within the slow timeout")
				w.beginClose(uc, nil)
				continue
			}
			// A write still waiting for room at the next pass is the
			// socket refusing data, as a short write is on netpoll: once
			// it completes, the lag policy may skip the player to a
			// keyframe, and it has caught up only when it reaches the
			// head of now, not the one of when it was planned. Otherwise
			// a write that waited seconds and then completed whole would
			// hide any lag from the policy.
			p.markBehind(now)
			uc.st.head = max(uc.st.head, w.view.head)
		} else {
			w.startWrite(uc, now)
		}
		if !p.waiting {
			floor = min(floor, p.cursor)
		}
	}
	w.view.release()
	o.wire.setFloor(w.id, floor)
	// Closing may drop a connection from w.outputs[o] at once, so only
	// after the loops.
	for _, uc := range ending {
		w.beginClose(uc, nil)
	}
	clear(todo)
	clear(ending)
	w.todo, w.ending = todo[:0], ending[:0]
}

func (w *uringWorker) dropOutput(o *Output) {
	delete(w.outputs, o)
	o.wire.setFloor(w.id, noPos)
}

// startWrite plans the player's next range and submits it.
func (w *uringWorker) startWrite(uc *uringConn, now time.Time) {
	st, ok := uc.p.plan(&w.view, now)
	if !ok {
		return
	}
	// Bound the write: a slow reader's write stays in flight until its
	// socket drains, and only a completed write lets the lag policy see it
	// and skip it to a keyframe; half the lag window keeps that possible.
	st.to = min(st.to, st.from+uint64(max(w.t.cfg.LagWindow/2, blockSize)))
	// Build in the worker's scratch, which stays in cache; the connection's
	// own array (cold by now) is written only when the kernel or the chain
	// accounting will read it, not for the common single-piece SEND.
	iov := st.iovecs(w.iov[:0], &w.view)
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
		uc.p.advance(st, 0, now)
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
	uc.niov = int32(len(iov))
	w.pinRange(uc, st.from, st.to)
	uc.st, uc.inflight, uc.sentAt = st, true, now
	uc.written, uc.broken, uc.results = 0, false, 0
	switch {
	case w.t.mode == SendWritev || !w.fixed:
		if len(iov) > 1 {
			iov = uc.iov[:copy(uc.iov[:], iov)]
		}
		w.submitWritev(uc, iov)
	case zc:
		w.submitSendZC(uc, iov[0])
	default:
		w.submitChain(uc, uc.iov[:copy(uc.iov[:], iov)])
	}
}

// pinRange keeps the blocks under a write alive until it completes, even
// if the log lets them go meanwhile.
func (w *uringWorker) pinRange(uc *uringConn, from, to uint64) {
	uc.npins = 0
	if from >= to {
		return
	}
	first := w.view.blocks[0].start
	for i := int((from - first) / blockSize); i < len(w.view.blocks) && uc.npins < maxUringIov; i++ {
		b := w.view.blocks[i]
		if b.start >= to {
			break
		}
		b.pin()
		uc.pins[uc.npins] = b
		uc.npins++
	}
}

func (w *uringWorker) unpin(uc *uringConn) {
	for i := range uc.npins {
		uc.pins[i].unpin()
		uc.pins[i] = nil
	}
	uc.npins = 0
}

// submitWritev writes the range with one operation: a SEND when it is one
// contiguous piece (most per-message writes), a WRITEV when it spans
// blocks or carries a join prefix. SEND skips the iovec import (copying and
// checking the array from user memory) that WRITEV pays on every write.
// Both complete the same way on a socket: they wait for room with a poll
// (the ring ignores the socket's O_NONBLOCK; MSG_DONTWAIT would instead
// complete with EAGAIN and spin the next pass) and come back short with
// what the socket took, never retrying the rest (no MSG_WAITALL).
// MSG_NOSIGNAL: a write to a reset peer fails with EPIPE either way, this
// only spares the process the signal.
func (w *uringWorker) submitWritev(uc *uringConn, iov []unix.Iovec) {
	sqe := w.getSQE()
	if sqe == nil {
		w.abortWrite(uc)
		return
	}
	if len(iov) == 1 {
		sqe.PrepSend(uc.rfd, iovecBytes(iov[0]), unix.MSG_NOSIGNAL)
		w.sends++
	} else {
		sqe.PrepWritev(uc.rfd, iov, 0)
		w.writevs++
	}
	uc.useFile(sqe)
	sqe.SetUserData(userData(opWrite, uc.slot))
	uc.results = 1
	w.inflight++
}

// submitSendZC sends one piece without copying it; its notification says
// when the memory is free again.
func (w *uringWorker) submitSendZC(uc *uringConn, v unix.Iovec) {
	sqe := w.getSQE()
	if sqe == nil {
		w.abortWrite(uc)
		return
	}
	buf := iovecBytes(v)
	if idx, fixed := w.registeredIndex(buf); fixed {
		sqe.PrepSendZCFixed(uc.rfd, buf, unix.MSG_NOSIGNAL, 0, idx)
	} else {
		sqe.PrepSendZC(uc.rfd, buf, unix.MSG_NOSIGNAL, 0)
	}
	uc.useFile(sqe)
	sqe.SetUserData(userData(opWrite, uc.slot))
	uc.results = 1
	w.inflight++
}

// submitChain writes each iovec with its own SQE, linked so they go out in
// order: registered blocks with WRITE_FIXED, the join prefix (not
// registered) with a plain WRITE.
func (w *uringWorker) submitChain(uc *uringConn, iov []unix.Iovec) {
	if w.ring.SQSpace() < uint32(len(iov)) {
		w.ring.Submit()
		if w.ring.SQSpace() < uint32(len(iov)) {
			w.abortWrite(uc)
			return
		}
	}
	for i, v := range iov {
		buf := iovecBytes(v)
		sqe := w.ring.GetSQE()
		if idx, fixed := w.registeredIndex(buf); fixed {
			sqe.PrepWriteFixed(uc.rfd, buf, 0, idx)
		} else {
			sqe.PrepWrite(uc.rfd, buf, 0)
		}
		uc.useFile(sqe)
		sqe.SetUserData(userData(opWrite, uc.slot))
		if i < len(iov)-1 {
			sqe.SetFlags(uring.SQEIOLink)
		}
	}
	uc.results = int32(len(iov))
	w.inflight += len(iov)
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
func (w *uringWorker) abortWrite(uc *uringConn) {
	w.unpin(uc)
	uc.inflight = false
	w.pending[uc.p.out] = struct{}{}
}

// writeDone accounts one completion of the player's write (a result, or a
// SEND_ZC notification); the last one advances the cursor.
func (w *uringWorker) writeDone(uc *uringConn, c uring.CQE) {
	if c.Notif() {
		uc.notifs--
	} else {
		w.writeResult(uc, c)
	}
	if uc.results > 0 || uc.notifs > 0 {
		return
	}
	w.unpin(uc)
	uc.inflight = false
	want := int(uc.st.to-uc.st.from) + len(uc.st.prefix)
	w.counts.writes++
	w.counts.bytes += uint64(uc.written)
	w.counts.sizes[WriteSizeBucket(uc.written)]++
	if uc.written < want {
		w.counts.short++
	}
	if !uc.closing {
		uc.p.advance(uc.st, uc.written, w.reapedAt)
		if uc.p.cursor < uc.st.head || uc.p.epoch != uc.p.out.wire.epoch.Load() {
			// The write fell short of what the flush offered (the socket
			// took less, or the write was bounded), or a publisher change
			// is pending: continue now. Data that
			// arrived since waits for the next flush, or batching would
			// degrade into a write per message.
			w.pending[uc.p.out] = struct{}{}
		}
	}
}

func (w *uringWorker) writeResult(uc *uringConn, c uring.CQE) {
	uc.results--
	w.inflight--
	if c.More() {
		uc.notifs++
	}
	switch {
	case c.Res == -int32(unix.ECANCELED) && uc.broken:
	case c.Res == -int32(unix.EAGAIN):
		uc.broken = true // nothing more of this chain went out
	case c.Res == -int32(unix.EOPNOTSUPP) && w.t.mode == SendZC:
		// Some kernels do not mark accepted TCP sockets zero-copy capable
		// (6.18 here): fall back to WRITE_FIXED, once.
		if !w.zcOff {
			w.zcOff = true
			w.t.logger.Warn("SEND_ZC unsupported on this kernel's accepted sockets; using write_fixed", "worker", w.id)
		}
		uc.broken = true
	case c.Res < 0:
		if !uc.closing {
			w.beginClose(uc, fmt.Errorf("write: %w", syscall.Errno(-c.Res)))
		}
		uc.broken = true
	case !uc.broken:
		uc.written += int(c.Res)
		if w.t.mode == SendWriteFixed || w.zcOff {
			// In a chain, a short link cancels the rest.
			uc.broken = uc.results > 0 && !w.linkComplete(uc)
		}
	}
}

// linkComplete reports whether the bytes written so far end exactly at a
// link boundary of the chain (so no link came back short).
func (w *uringWorker) linkComplete(uc *uringConn) bool {
	total := 0
	for _, v := range uc.iov[:uc.niov] {
		if total == uc.written {
			return true
		}
		total += int(v.Len)
		if total > uc.written {
			return false
		}
	}
	return total == uc.written
}
