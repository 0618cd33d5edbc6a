package uring

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// bufRingEntry mirrors struct io_uring_buf.
type bufRingEntry struct {
	addr uint64
	len  uint32
	bid  uint16
	resv uint16
}

// bufReg mirrors struct io_uring_buf_reg.
type bufReg struct {
	ringAddr    uint64
	ringEntries uint32
	bgid        uint16
	pad         uint16
	resv        [3]uint64
}

// BufRing is a provided-buffer ring (IORING_REGISTER_PBUF_RING): a group of
// equal buffers the kernel picks from for receives armed with
// PrepRecvProvided or PrepRecvMultishot. Buffer ids run 0..Count()-1. A
// buffer the kernel filled belongs to the caller until Recycle gives it
// back. Like its Ring, a BufRing belongs to one goroutine.
type BufRing struct {
	ring    *Ring
	group   uint16
	mem     []byte // ring entries, shared with the kernel
	ents    []bufRingEntry
	mask    uint16
	next    uint16 // tail including added but unpublished entries
	data    []byte // the buffers, size bytes each
	size    int
	closed  bool
	tailPtr *uint32
}

// NewBufRing allocates count buffers of size bytes (count a power of two,
// at most 32768) with mmap, registers them as buffer group group and
// provides all of them to the kernel.
func (r *Ring) NewBufRing(group uint16, count, size int) (*BufRing, error) {
	if count < 1 || count > 1<<15 || count&(count-1) != 0 {
		return nil, fmt.Errorf("uring: buffer ring of %d buffers: want a power of two in 1..32768", count)
	}
	if size < 1 || size > 1<<30/count {
		return nil, fmt.Errorf("uring: buffer ring of %d buffers of %d bytes: want 1..%d bytes each", count, size, 1<<30/count)
	}
	if r.fd < 0 {
		return nil, ErrClosed
	}
	const prot, flags = unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS
	mem, err := unix.Mmap(-1, 0, count*int(unsafe.Sizeof(bufRingEntry{})), prot, flags)
	if err != nil {
		return nil, fmt.Errorf("uring: buffer ring: mmap: %w", err)
	}
	data, err := unix.Mmap(-1, 0, count*size, prot, flags)
	if err != nil {
		_ = unix.Munmap(mem)
		return nil, fmt.Errorf("uring: buffer ring: mmap buffers: %w", err)
	}
	b := &BufRing{ring: r, group: group, mem: mem, data: data, size: size, mask: uint16(count - 1),
		ents: unsafe.Slice((*bufRingEntry)(unsafe.Pointer(&mem[0])), count),
		// The 16-bit tail overlays bufs[0].resv (offset 14). Go has no 16-bit
		// atomics, so the tail is published with a 32-bit store of the word
		// at offset 12, which also holds bufs[0].bid — only we write either.
		tailPtr: (*uint32)(unsafe.Pointer(&mem[12])),
	}
	reg := bufReg{ringAddr: uint64(uintptr(unsafe.Pointer(&mem[0]))), ringEntries: uint32(count), bgid: group}
	if _, err := r.register("register buffer ring", regPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		_ = unix.Munmap(mem)
		_ = unix.Munmap(data)
		return nil, err
	}
	for id := 0; id < count; id++ {
		b.add(uint16(id))
	}
	b.Publish()
	return b, nil
}

// Group returns the buffer group id to pass to the receive Prep methods.
func (b *BufRing) Group() uint16 { return b.group }

// Count returns the number of buffers.
func (b *BufRing) Count() int { return len(b.ents) }

// Size returns the size of each buffer.
func (b *BufRing) Size() int { return b.size }

// Buf returns buffer id in full, or nil for an id out of range.
func (b *BufRing) Buf(id uint16) []byte {
	if int(id) >= len(b.ents) {
		return nil
	}
	off := int(id) * b.size
	return b.data[off : off+b.size : off+b.size]
}

// Data returns the bytes a successful receive completion delivered and the
// buffer id to Recycle afterwards; ok is false when c carries no buffer.
func (b *BufRing) Data(c CQE) (data []byte, id uint16, ok bool) {
	id, ok = c.BufferID()
	if !ok || c.Res < 0 || int(id) >= len(b.ents) || int(c.Res) > b.size {
		return nil, id, false
	}
	return b.Buf(id)[:c.Res], id, true
}

func (b *BufRing) add(id uint16) {
	e := &b.ents[b.next&b.mask]
	e.addr = uint64(uintptr(unsafe.Pointer(&b.data[int(id)*b.size])))
	e.len = uint32(b.size)
	e.bid = id
	b.next++
}

// Add queues buffer id for return to the kernel; Publish makes a batch of
// Adds visible at once. Each id must be added only once per use: the ring
// has room for every buffer exactly once.
func (b *BufRing) Add(id uint16) error {
	if b.closed {
		return ErrClosed
	}
	if int(id) >= len(b.ents) {
		return fmt.Errorf("uring: buffer id %d out of range (ring has %d)", id, len(b.ents))
	}
	b.add(id)
	return nil
}

// Publish hands the Added buffers to the kernel.
func (b *BufRing) Publish() {
	if b.closed {
		return
	}
	// bufs[0].bid sits in the low half of the word; keep it as written.
	bid0 := uint32(b.ents[0].bid)
	atomic.StoreUint32(b.tailPtr, bid0|uint32(b.next)<<16)
}

// Recycle returns buffer id to the kernel at once (Add then Publish).
func (b *BufRing) Recycle(id uint16) error {
	if err := b.Add(id); err != nil {
		return err
	}
	b.Publish()
	return nil
}

// Close unregisters the group and frees its memory. No receive may still
// be armed on the group.
func (b *BufRing) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	var err error
	if b.ring.fd >= 0 {
		reg := bufReg{bgid: b.group}
		_, err = b.ring.register("unregister buffer ring", regUnpbufRing, unsafe.Pointer(&reg), 1)
	}
	_ = unix.Munmap(b.mem)
	_ = unix.Munmap(b.data)
	b.mem, b.data, b.ents = nil, nil, nil
	return err
}
