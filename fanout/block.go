package fanout

import (
	"sync"
	"sync/atomic"
)

// blockSize is the unit of wire-log memory. 64 KiB keeps a player's range
// to a handful of iovecs while wasting little on a quiet stream.
const blockSize = 64 << 10

// block is one piece of a wire log. Its bytes below the log's head never
// change until the block returns to the free list, which happens only when
// no write references it: refs counts the log itself plus every pin.
type block struct {
	buf   []byte
	start uint64 // log position of buf[0]
	refs  atomic.Int32
	idx   int32 // registered-buffer index, or -1 for plain heap memory
}

// maxFreeBlocks bounds the heap memory kept for reuse (16 MiB) once streams
// shrink; registered blocks are always kept.
const maxFreeBlocks = 256

// freeBlocks are plain free lists rather than a sync.Pool: a pool is emptied
// by every GC, which would make steady-state publishing allocate, and
// registered blocks must never be given back to the GC.
var freeBlocks struct {
	sync.Mutex
	registered []*block
	heap       []*block
	arena      [][]byte // every registered block's memory, by index
}

// newBlock takes a block, registered memory first, owned by the log.
func newBlock(start uint64) *block {
	freeBlocks.Lock()
	b := popBlock(&freeBlocks.registered)
	if b == nil {
		b = popBlock(&freeBlocks.heap)
	}
	freeBlocks.Unlock()
	if b == nil {
		b = &block{buf: make([]byte, blockSize), idx: -1}
	}
	b.start = start
	b.refs.Store(1)
	return b
}

func popBlock(list *[]*block) *block {
	n := len(*list)
	if n == 0 {
		return nil
	}
	b := (*list)[n-1]
	(*list)[n-1] = nil
	*list = (*list)[:n-1]
	return b
}

// pin keeps b alive across a write.
func (b *block) pin() { b.refs.Add(1) }

// unpin drops a reference; the last one returns b to its free list.
func (b *block) unpin() {
	if b.refs.Add(-1) != 0 {
		return
	}
	freeBlocks.Lock()
	switch {
	case b.idx >= 0:
		freeBlocks.registered = append(freeBlocks.registered, b)
	case len(freeBlocks.heap) < maxFreeBlocks:
		freeBlocks.heap = append(freeBlocks.heap, b)
	}
	freeBlocks.Unlock()
}

// registerArena makes sure at least n blocks of registrable memory exist
// (allocated once per process, then reused by every stream) and returns
// their buffers by index, for io_uring buffer registration.
func registerArena(n int) [][]byte {
	freeBlocks.Lock()
	defer freeBlocks.Unlock()
	for len(freeBlocks.arena) < n && len(freeBlocks.arena) < 1<<15 {
		b := &block{buf: make([]byte, blockSize), idx: int32(len(freeBlocks.arena))}
		freeBlocks.arena = append(freeBlocks.arena, b.buf)
		freeBlocks.registered = append(freeBlocks.registered, b)
	}
	return freeBlocks.arena
}
