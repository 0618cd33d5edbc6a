package uring

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DurationTimespec converts d to a kernel timespec; negative d counts as 0.
func DurationTimespec(d time.Duration) Timespec {
	d = max(d, 0)
	return Timespec{Sec: int64(d / time.Second), Nsec: int64(d % time.Second)}
}

// Submit hands every prepared SQE to the kernel without waiting and returns
// how many it took.
func (r *Ring) Submit() (int, error) { return r.submitAndWait(0, 0) }

// SubmitAndWait submits and then waits until at least n CQEs are ready in
// the completion ring (n is capped at its size). EINTR from Go's preemption
// signals is retried.
func (r *Ring) SubmitAndWait(n uint32) (int, error) { return r.submitAndWait(n, 0) }

// SubmitAndWaitBrief is SubmitAndWaitTimeout for short waits (a few
// milliseconds at most) on a goroutine locked to its own thread: it waits in
// a raw system call, keeping the thread's P, instead of letting the runtime
// hand the P off and take it back, which on a loaded server costs more
// futex and nanosleep calls than the wait itself. The runtime cannot stop
// the world while the call waits, hence the bound on d.
func (r *Ring) SubmitAndWaitBrief(n uint32, d time.Duration) (int, error) {
	r.brief = true
	defer func() { r.brief = false }()
	return r.submitAndWait(n, d)
}

// SubmitAndWaitTimeout is SubmitAndWait bounded by d; when d passes first it
// returns unix.ETIME (errors.Is(err, unix.ETIME)) together with the number
// of SQEs submitted. d <= 0 means no bound.
func (r *Ring) SubmitAndWaitTimeout(n uint32, d time.Duration) (int, error) {
	return r.submitAndWait(n, d)
}

// GetEvents enters the kernel without waiting so that completions held in
// the overflow list or in deferred task work (WithSingleIssuer) reach the
// ring. The CQE readers do this themselves when the kernel flags it.
func (r *Ring) GetEvents() error {
	if r.fd < 0 {
		return ErrClosed
	}
	for {
		_, err := r.enter(0, 0, enterGetEvents, nil, 0)
		if err != unix.EINTR {
			return r.ownerError(err)
		}
	}
}

func (r *Ring) enter(toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSize uintptr) (int, error) {
	r.ctr.enters.Add(1)
	n, err := sysEnter(r.fd, toSubmit, minComplete, flags, arg, argSize, r.brief)
	r.ctr.dropped.Store(uint64(atomic.LoadUint32(r.cq.koverflow)))
	return n, err
}

func (r *Ring) submitAndWait(want uint32, timeout time.Duration) (int, error) {
	if r.fd < 0 {
		return 0, ErrClosed
	}
	want = min(want, r.cq.entries)
	sqPoll := r.flags&SetupSQPoll != 0
	var deadline time.Time
	submitted := 0
	for {
		published, pending := r.flushSQ()
		toSubmit, flags := pending, uint32(0)
		if sqPoll {
			// The poller thread consumes the queue; enter only to wake it
			// or, when the queue is full, to wait for room.
			submitted += int(published)
			r.ctr.submitted.Add(uint64(published))
			toSubmit = 0
			if pending > 0 && atomic.LoadUint32(r.sq.kflags)&sqNeedWakeup != 0 {
				flags |= enterSQWakeup
			}
			if pending >= r.sq.entries {
				flags |= enterSQWait
			}
		}
		wait := want > 0 && r.CQReady() < want
		if !wait && toSubmit == 0 && flags == 0 {
			return submitted, nil
		}
		var minComplete uint32
		var arg unsafe.Pointer
		var argSize uintptr
		if wait {
			flags |= enterGetEvents
			minComplete = want
			if timeout > 0 {
				if deadline.IsZero() {
					deadline = time.Now().Add(timeout)
				}
				left := time.Until(deadline)
				if left <= 0 {
					return submitted, unix.ETIME
				}
				r.waitTS = DurationTimespec(left)
				r.waitArg = geteventsArg{ts: uint64(uintptr(unsafe.Pointer(&r.waitTS)))}
				arg, argSize = unsafe.Pointer(&r.waitArg), unsafe.Sizeof(r.waitArg)
				flags |= enterExtArg
			}
		}
		n, err := r.enter(toSubmit, minComplete, flags, arg, argSize)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return submitted, r.ownerError(err)
		}
		if !sqPoll {
			submitted += n
			r.ctr.submitted.Add(uint64(n))
			if n == 0 && toSubmit > 0 && !wait {
				// Nothing taken and nothing to wait for: looping would spin.
				return submitted, unix.EAGAIN
			}
		} else if !wait {
			return submitted, nil
		}
	}
}
