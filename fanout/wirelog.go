package fanout

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noPos marks an absent position (no keyframe yet).
const noPos = ^uint64(0)

// wireLog holds one Output's serialized records: a byte sequence addressed
// by absolute position, stored in blocks. One goroutine (the stream's
// writer, under the stream's lock) appends; senders read any range in
// [tail, head) under a view that pins the blocks it covers. Transports know
// nothing of the format of what they write from it.
type wireLog struct {
	mu     sync.Mutex
	blocks blockRing // retained blocks, contiguous in position
	end    uint64    // position just past the last block
	head   atomic.Uint64

	starts posRing // message start positions, for message ends
	keyPos uint64  // newest keyframe (GOP start), or noPos
	keyTS  uint32
	// firstKey is the current publisher's first keyframe: players that were
	// already waiting start there rather than at the newest one.
	firstKey   uint64
	firstKeyTS uint32

	// epoch is the publisher generation (players rejoin when it moves);
	// atomic so a sender can check it per write without the lock.
	epoch      atomic.Uint64
	epochStart uint64 // position where the current publisher began

	lagWindow int
	maxCache  int
	total     *logBytesCounter // the stream's serialized bytes, over all outputs

	// floors holds, per sender worker, the lowest cursor among its players:
	// bytes a player has not been sent are kept — up to maxCache, beyond
	// which the player is dropped — so that however long a flush interval
	// or a GOP is, a lagging player can finish its message and skip to a
	// keyframe ahead of it instead of losing its place.
	floors map[int]uint64
}

func (l *wireLog) init(lagWindow, maxCache int, total *logBytesCounter) {
	l.keyPos, l.firstKey = noPos, noPos
	l.lagWindow, l.maxCache, l.total = lagWindow, maxCache, total
}

// Append implements Appender for the log's encoder.
func (l *wireLog) Append(record []byte, start bool, ts uint32) {
	l.append(record, start, ts)
	if l.total != nil {
		l.total.Add(uint64(len(record)))
	}
}

// append adds one serialized message. key marks a position a player may
// start from.
func (l *wireLog) append(msg []byte, key bool, ts uint32) {
	pos := l.head.Load()
	need := pos + uint64(len(msg))
	if need > l.end {
		l.mu.Lock()
		for l.end < need {
			l.blocks.push(newBlock(l.end))
			l.end += blockSize
		}
		l.mu.Unlock()
	}
	l.copyIn(pos, msg)
	l.mu.Lock()
	l.starts.push(pos)
	if key {
		l.keyPos, l.keyTS = pos, ts
		if l.firstKey == noPos {
			l.firstKey, l.firstKeyTS = pos, ts
		}
	}
	l.head.Store(need)
	l.trim(need)
	l.mu.Unlock()
}

// copyIn writes msg at pos. Only the appending goroutine changes the block
// ring, so it may read it without the lock; nobody reads above head.
func (l *wireLog) copyIn(pos uint64, msg []byte) {
	if len(msg) == 0 {
		return
	}
	i := int((pos - l.blocks.at(0).start) / blockSize)
	for len(msg) > 0 {
		b := l.blocks.at(i)
		n := copy(b.buf[pos-b.start:], msg)
		msg, pos, i = msg[n:], pos+uint64(n), i+1
	}
}

// trim releases blocks nobody may need: those wholly below both the newest
// keyframe and twice the lag window behind the head, or below the cache cap
// whatever the keyframe. Called with mu held.
func (l *wireLog) trim(head uint64) {
	keep := sub(head, uint64(2*l.lagWindow))
	if l.keyPos != noPos && l.keyPos < keep {
		keep = l.keyPos
	}
	for _, f := range l.floors {
		keep = min(keep, f)
	}
	if floor := sub(head, uint64(l.maxCache)); keep < floor {
		keep = floor
		if l.keyPos != noPos && l.keyPos < floor {
			l.keyPos = noPos // the GOP outgrew the cache: joiners wait for the next keyframe
		}
	}
	for l.blocks.len() > 1 {
		b := l.blocks.at(0)
		if b.start+blockSize > keep {
			break
		}
		l.blocks.pop()
		b.unpin()
	}
	l.starts.dropBelow(l.tail())
}

func (l *wireLog) tail() uint64 {
	if l.blocks.len() == 0 {
		return l.end
	}
	return l.blocks.at(0).start
}

// setFloor records the lowest cursor among worker w's players, or clears
// it with noPos.
func (l *wireLog) setFloor(w int, pos uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pos == noPos {
		delete(l.floors, w)
		return
	}
	if l.floors == nil {
		l.floors = map[int]uint64{}
	}
	l.floors[w] = pos
}

// joinPoint is where a player joining now begins to wait: the head, in the
// current publisher's epoch.
func (l *wireLog) joinPoint() (head, epoch uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head.Load(), l.epoch.Load()
}

// newEpoch marks the start of a new publisher's data at the head.
func (l *wireLog) newEpoch() {
	l.mu.Lock()
	l.epoch.Add(1)
	l.epochStart = l.head.Load()
	l.keyPos, l.firstKey = noPos, noPos
	l.mu.Unlock()
}

// forgetKeyframe stops new players from starting in what is cached.
func (l *wireLog) forgetKeyframe() {
	l.mu.Lock()
	l.keyPos, l.firstKey = noPos, noPos
	l.mu.Unlock()
}

// messageEnd returns the end of the message that contains pos (the next
// message start after it, or the head), and whether pos is itself a start.
func (l *wireLog) messageEnd(pos uint64) (end uint64, atStart bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	head := l.head.Load()
	if pos >= head {
		return head, true
	}
	next, ok := l.starts.firstAtOrAbove(pos)
	if !ok {
		return head, false
	}
	if next == pos {
		return pos, true
	}
	return next, false
}

func (l *wireLog) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.blocks.len() > 0 {
		l.blocks.pop().unpin()
	}
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// logView is a consistent, pinned snapshot of a wire log for one sender pass.
type logView struct {
	blocks     []*block
	tail, head uint64
	keyPos     uint64
	keyTS      uint32
	firstKey   uint64
	firstKeyTS uint32
	epoch      uint64
	epochStart uint64
}

// take fills v from l and pins every retained block.
func (v *logView) take(l *wireLog) {
	l.mu.Lock()
	v.blocks = v.blocks[:0]
	for i := 0; i < l.blocks.len(); i++ {
		b := l.blocks.at(i)
		b.pin()
		v.blocks = append(v.blocks, b)
	}
	v.head = l.head.Load()
	v.tail = l.tail()
	v.keyPos, v.keyTS = l.keyPos, l.keyTS
	v.firstKey, v.firstKeyTS = l.firstKey, l.firstKeyTS
	v.epoch, v.epochStart = l.epoch.Load(), l.epochStart
	l.mu.Unlock()
}

// release unpins what take pinned.
func (v *logView) release() {
	for i, b := range v.blocks {
		b.unpin()
		v.blocks[i] = nil
	}
	v.blocks = v.blocks[:0]
}

// appendIovecs appends iovecs covering [from, to) to dst, at most max in all.
func (v *logView) appendIovecs(dst []unix.Iovec, from, to uint64, max int) []unix.Iovec {
	if from >= to || len(v.blocks) == 0 {
		return dst
	}
	i := int((from - v.blocks[0].start) / blockSize)
	for from < to && i < len(v.blocks) && len(dst) < max {
		b := v.blocks[i]
		off := from - b.start
		n := min(uint64(blockSize)-off, to-from)
		iov := unix.Iovec{Base: &b.buf[off]}
		iov.SetLen(int(n))
		dst = append(dst, iov)
		from += n
		i++
	}
	return dst
}

// blockRing is a growable ring of blocks: the log pushes at the back and
// pops at the front without reallocating in steady state.
type blockRing struct {
	buf        []*block
	head, size int
}

func (r *blockRing) len() int { return r.size }

func (r *blockRing) at(i int) *block { return r.buf[(r.head+i)&(len(r.buf)-1)] }

func (r *blockRing) push(b *block) {
	if r.size == len(r.buf) {
		n := max(16, 2*len(r.buf))
		nb := make([]*block, n)
		for i := 0; i < r.size; i++ {
			nb[i] = r.at(i)
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.size)&(len(r.buf)-1)] = b
	r.size++
}

func (r *blockRing) pop() *block {
	b := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.size--
	return b
}

// posRing is a growable ring of ascending positions.
type posRing struct {
	buf        []uint64
	head, size int
}

func (r *posRing) at(i int) uint64 { return r.buf[(r.head+i)&(len(r.buf)-1)] }

func (r *posRing) push(p uint64) {
	if r.size == len(r.buf) {
		n := max(256, 2*len(r.buf))
		nb := make([]uint64, n)
		for i := 0; i < r.size; i++ {
			nb[i] = r.at(i)
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.size)&(len(r.buf)-1)] = p
	r.size++
}

func (r *posRing) dropBelow(p uint64) {
	for r.size > 0 && r.buf[r.head] < p {
		r.head = (r.head + 1) & (len(r.buf) - 1)
		r.size--
	}
}

// firstAtOrAbove finds the smallest position >= p by binary search.
func (r *posRing) firstAtOrAbove(p uint64) (uint64, bool) {
	lo, hi := 0, r.size
	for lo < hi {
		mid := (lo + hi) / 2
		if r.at(mid) < p {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == r.size {
		return 0, false
	}
	return r.at(lo), true
}
