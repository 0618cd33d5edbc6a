package uring_test

import (
	"errors"
	"fmt"
	"log"
	"runtime"

	"github.com/bbllive/bbllive/uring"
	"golang.org/x/sys/unix"
)

// A player's flush: one WRITEV covering everything from its cursor, resumed
// after short completions, with an eventfd READ armed so another goroutine
// can wake the loop.
func Example() {
	if err := uring.Available(); errors.Is(err, uring.ErrUnavailable) {
		log.Printf("falling back to netpoll: %v", err)
		return
	}
	runtime.LockOSThread() // required by WithSingleIssuer
	defer runtime.UnlockOSThread()
	r, err := uring.New(256, uring.WithSingleIssuer())
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	wake, err := uring.NewEventfd()
	if err != nil {
		log.Fatal(err)
	}
	defer wake.Close()

	const wakeTag = 1 << 63
	s := r.GetSQE()
	wake.PrepRead(s)
	s.SetUserData(wakeTag)
	var fd int32 = -1 // a player's blocking socket
	if fd >= 0 {
		iovs := uring.AppendIovecs(nil, []byte("chunk 1"), []byte("chunk 2"))
		s = r.GetSQE()
		s.PrepWritev(fd, iovs, 0)
		s.SetUserData(uint64(fd))
	}
	// Blocks until a write completes or another goroutine calls wake.Signal.
	if _, err := r.SubmitAndWait(1); err != nil {
		log.Fatal(err)
	}
	r.ForEachCQE(func(c uring.CQE) bool {
		if c.UserData == wakeTag {
			// Woken: re-arm the READ and look at the wire log.
			return true
		}
		if c.Res < 0 {
			log.Printf("player %d: %v", c.UserData, c.Err())
		}
		// Otherwise advance this player's iovecs by c.Res and resubmit
		// what is left (uring.AdvanceIovecs).
		return true
	})
}

func ExampleAdvanceIovecs() {
	a, b := []byte("hello "), []byte("world")
	iovs := uring.AppendIovecs(make([]unix.Iovec, 0, 2), a, b)
	// A WRITEV completed short after 8 bytes: resume from "rld".
	left := uring.AdvanceIovecs(iovs, 8)
	fmt.Println(len(left), uring.IovecsLen(left))
	// Output: 1 3
}
