package uring

import "sync/atomic"

// counters are atomics so a metrics goroutine can read them while the owner
// runs the ring.
type counters struct {
	submitted atomic.Uint64
	reaped    atomic.Uint64
	enters    atomic.Uint64
	dropped   atomic.Uint64
}

// Stats is a snapshot of a ring's counters since New.
type Stats struct {
	// Submitted counts SQEs the kernel accepted.
	Submitted uint64
	// Reaped counts CQEs handed to the caller.
	Reaped uint64
	// Enters counts io_uring_enter system calls.
	Enters uint64
	// Dropped is the kernel's count of CQEs lost to a full completion ring
	// (only without FeatNoDrop or when the kernel ran out of memory), as of
	// the last io_uring_enter.
	Dropped uint64
}

// Stats returns the counters. It is safe to call from any goroutine, also
// after Close.
func (r *Ring) Stats() Stats {
	return Stats{
		Submitted: r.ctr.submitted.Load(),
		Reaped:    r.ctr.reaped.Load(),
		Enters:    r.ctr.enters.Load(),
		Dropped:   r.ctr.dropped.Load(),
	}
}
