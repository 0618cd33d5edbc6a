package fanout

import (
	"sync"
	"sync/atomic"
)

// blockSize is the unit of wire-log memory. 64 KiB keeps a player's range
// to a handful of iovecs while wasting little on a quiet stream.
const blockSize = 64 << 10

// block is one piece of a wire log. Its bytes below the log's head never
// change until the block returns to the pool, which happens only when no
// write references it: refs counts the log itself plus every pin.
type block struct {
	buf   []byte
	start uint64 // log position of buf[0]
	refs  atomic.Int32
}

// maxFreeBlocks bounds the memory kept for reuse (16 MiB) once streams shrink.
const maxFreeBlocks = 256

// freeBlocks is a plain free list rather than a sync.Pool: a pool is
// emptied by every GC, which would make steady-state publishing allocate.
var freeBlocks struct {
	sync.Mutex
	list []*block
}

// newBlock takes a block from the free list, owned by the log.
func newBlock(start uint64) *block {
	var b *block
	freeBlocks.Lock()
	if n := len(freeBlocks.list); n > 0 {
		b = freeBlocks.list[n-1]
		freeBlocks.list[n-1] = nil
		freeBlocks.list = freeBlocks.list[:n-1]
	}
	freeBlocks.Unlock()
	if b == nil {
		b = &block{buf: make([]byte, blockSize)}
	}
	b.start = start
	b.refs.Store(1)
	return b
}

// pin keeps b alive across a write.
func (b *block) pin() { b.refs.Add(1) }

// unpin drops a reference; the last one returns b to the pool.
func (b *block) unpin() {
	if b.refs.Add(-1) == 0 {
		freeBlocks.Lock()
		if len(freeBlocks.list) < maxFreeBlocks {
			freeBlocks.list = append(freeBlocks.list, b)
		}
		freeBlocks.Unlock()
	}
}
