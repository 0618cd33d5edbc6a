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

var blockPool = sync.Pool{New: func() any { return &block{buf: make([]byte, blockSize)} }}

// newBlock takes a block from the pool, owned by the log.
func newBlock(start uint64) *block {
	b := blockPool.Get().(*block)
	b.start = start
	b.refs.Store(1)
	return b
}

// pin keeps b alive across a write.
func (b *block) pin() { b.refs.Add(1) }

// unpin drops a reference; the last one returns b to the pool.
func (b *block) unpin() {
	if b.refs.Add(-1) == 0 {
		blockPool.Put(b)
	}
}
