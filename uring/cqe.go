package uring

import (
	"sync/atomic"
	"syscall"
)

// CQE mirrors struct io_uring_cqe (16 bytes). Readers hand it out by value:
// the ring slot is given back to the kernel before the caller sees it.
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// Err returns the errno of a failed operation (negative Res), or nil.
func (c CQE) Err() error {
	if c.Res < 0 {
		return syscall.Errno(-c.Res)
	}
	return nil
}

// BufferID returns the provided buffer the kernel filled, if it used one.
func (c CQE) BufferID() (id uint16, ok bool) {
	return uint16(c.Flags >> cqeBufferShift), c.Flags&CQEFBuffer != 0
}

// More reports that the same SQE will post further CQEs.
func (c CQE) More() bool { return c.Flags&CQEFMore != 0 }

// Notif reports a SEND_ZC notification: its buffer is free again.
func (c CQE) Notif() bool { return c.Flags&CQEFNotif != 0 }

// SockNonempty reports that the socket still had data after this receive.
func (c CQE) SockNonempty() bool { return c.Flags&CQEFSockNonempty != 0 }

// CQReady returns how many CQEs wait in the completion ring. Completions
// still in the kernel's overflow list or deferred task work are not counted.
func (r *Ring) CQReady() uint32 { return atomic.LoadUint32(r.cq.ktail) - r.cq.head }

// peek takes the next CQE off the ring. The kernel may reuse the slot as
// soon as the head moves, so the entry is copied out first.
func (r *Ring) peek() (CQE, bool) {
	q := &r.cq
	if q.head == atomic.LoadUint32(q.ktail) {
		return CQE{}, false
	}
	c := q.cqes[q.head&q.mask]
	q.head++
	atomic.StoreUint32(q.khead, q.head)
	return c, true
}

// cqNeedsFlush reports completions the kernel holds back: CQEs that did not
// fit the ring (overflow) or deferred task work waiting for us to enter.
func (r *Ring) cqNeedsFlush() bool {
	return atomic.LoadUint32(r.sq.kflags)&(sqCQOverflow|sqTaskrun) != 0
}

// next returns the next CQE; when the ring is empty but the kernel holds
// completions back it enters the kernel to flush them, once per dry spell.
func (r *Ring) next(flushed *bool) (CQE, bool) {
	for {
		if c, ok := r.peek(); ok {
			*flushed = false
			return c, true
		}
		if *flushed || !r.cqNeedsFlush() {
			return CQE{}, false
		}
		*flushed = true
		if r.GetEvents() != nil {
			return CQE{}, false
		}
	}
}

// PeekCQE takes one ready CQE without waiting.
func (r *Ring) PeekCQE() (CQE, bool) {
	if r.fd < 0 {
		return CQE{}, false
	}
	var flushed bool
	c, ok := r.next(&flushed)
	if ok {
		r.ctr.reaped.Add(1)
	}
	return c, ok
}

// PeekCQEs fills dst with ready CQEs without waiting and returns how many.
func (r *Ring) PeekCQEs(dst []CQE) int {
	if r.fd < 0 {
		return 0
	}
	var flushed bool
	n := 0
	for n < len(dst) {
		c, ok := r.next(&flushed)
		if !ok {
			break
		}
		dst[n] = c
		n++
	}
	r.ctr.reaped.Add(uint64(n))
	return n
}

// ForEachCQE calls fn for each ready CQE, without waiting and without
// allocating, until the ring is empty or fn returns false (the CQE given to
// that call counts as consumed). Overflowed and deferred completions are
// flushed in as the ring empties. fn may submit and reap itself. It returns
// the number of CQEs consumed.
func (r *Ring) ForEachCQE(fn func(CQE) bool) int {
	if r.fd < 0 {
		return 0
	}
	var flushed bool
	n := 0
	for {
		c, ok := r.next(&flushed)
		if !ok {
			break
		}
		n++
		if !fn(c) {
			break
		}
	}
	r.ctr.reaped.Add(uint64(n))
	return n
}

// WaitCQE takes one CQE, submitting pending SQEs and waiting if none is ready.
func (r *Ring) WaitCQE() (CQE, error) {
	for {
		if c, ok := r.PeekCQE(); ok {
			return c, nil
		}
		if _, err := r.SubmitAndWait(1); err != nil {
			return CQE{}, err
		}
	}
}
