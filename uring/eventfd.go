package uring

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Eventfd is a kernel counter other goroutines use to wake a ring's owner:
// the owner keeps a READ of it armed in the ring (PrepRead), and Signal
// completes that READ. It can also be registered with RegisterEventfd to
// learn of every CQE.
type Eventfd struct {
	fd  atomic.Int32 // -1 once closed; atomic because Signal runs anywhere
	buf [8]byte      // target of the ring READ; lives on the heap with the Eventfd
}

// NewEventfd creates an eventfd in blocking mode: on some older kernels a
// ring READ of a non-blocking eventfd completes at once with EAGAIN instead
// of waiting for a Signal.
func NewEventfd() (*Eventfd, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("uring: eventfd: %w", err)
	}
	e := &Eventfd{}
	e.fd.Store(int32(fd))
	return e, nil
}

// Fd returns the descriptor, or -1 after Close.
func (e *Eventfd) Fd() int { return int(e.fd.Load()) }

// Signal adds one to the counter, waking a pending READ. Safe from any
// goroutine and cheap enough to call per event; the reader sees the sum.
// After Close it returns ErrClosed; stop the signalling goroutines before
// Close all the same, since a descriptor number is reused once closed.
func (e *Eventfd) Signal() error {
	fd := int(e.fd.Load())
	if fd < 0 {
		return ErrClosed
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	for {
		_, err := unix.Write(fd, one[:])
		if err != unix.EINTR {
			if err != nil {
				return fmt.Errorf("uring: eventfd signal: %w", err)
			}
			return nil
		}
	}
}

// PrepRead arms a READ of the counter into the Eventfd's own buffer. Keep at
// most one armed at a time; after its CQE, Value returns what it read.
func (e *Eventfd) PrepRead(s *SQE) { s.PrepRead(e.fd.Load(), e.buf[:], 0) }

// Value returns the counter the last completed ring READ took (the number of
// Signals it absorbed).
func (e *Eventfd) Value() uint64 { return binary.NativeEndian.Uint64(e.buf[:]) }

// Read takes the counter with a blocking read(2), for a registered eventfd.
func (e *Eventfd) Read() (uint64, error) {
	var b [8]byte
	for {
		_, err := unix.Read(e.Fd(), b[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("uring: eventfd read: %w", err)
		}
		return binary.NativeEndian.Uint64(b[:]), nil
	}
}

// Close closes the descriptor. Cancel or complete an armed READ first.
func (e *Eventfd) Close() error {
	fd := int(e.fd.Swap(-1))
	if fd < 0 {
		return nil
	}
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("uring: eventfd close: %w", err)
	}
	return nil
}
