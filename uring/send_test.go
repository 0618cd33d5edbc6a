package uring

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSendWaitsLikeWritev pins down the socket semantics a fan-out relies
// on when it swaps WRITEV for SEND on a single buffer: on a non-blocking
// socket whose buffer is full, both wait for room (the ring polls; neither
// completes with EAGAIN), then complete with what the socket took — short,
// not retried — and the bytes arrive in order.
func TestSendWaitsLikeWritev(t *testing.T) {
	payload := pattern(1<<20, 7)
	tests := []struct {
		name string
		prep func(s *SQE, fd int32, b []byte, iovs []unix.Iovec)
	}{
		{"send", func(s *SQE, fd int32, b []byte, _ []unix.Iovec) { s.PrepSend(fd, b, unix.MSG_NOSIGNAL) }},
		{"writev", func(s *SQE, fd int32, _ []byte, iovs []unix.Iovec) { s.PrepWritev(fd, iovs, 0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing(t, 4)
			a, b := tcpPair(t)
			unix.SetsockoptInt(a, unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<10)
			if err := unix.SetNonblock(a, true); err != nil {
				t.Fatal(err)
			}
			sent := fillSocket(t, a, payload)
			// Offer the rest until an operation has to wait: the peer
			// still opens its window now and then without reading, which
			// completes an operation early; none may fail with EAGAIN.
			waited := false
			for try := 0; try < 20 && !waited; try++ {
				rest := payload[sent:]
				half := len(rest) / 2
				iovs := AppendIovecs(nil, rest[:half], rest[half:])
				s := getSQE(t, r)
				tc.prep(s, int32(a), rest, iovs)
				s.SetUserData(1)
				if _, err := r.Submit(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(50 * time.Millisecond)
				r.GetEvents()
				c, ok := r.PeekCQE()
				if !ok {
					waited = true
					break
				}
				r.ForEachCQE(func(CQE) bool { return true })
				if c.Res <= 0 {
					t.Fatalf("on a full socket: %+v (%v); want a wait for room", c, c.Err())
				}
				sent += int(c.Res)
			}
			if !waited {
				t.Fatal("no operation ever waited for room: the socket never stayed full")
			}
			rest, before := payload[sent:], sent
			// Drain the peer; the operation then goes out, possibly short.
			got := make(chan []byte, 1)
			go func() {
				buf := make([]byte, 0, len(payload))
				tmp := make([]byte, 64<<10)
				deadline := time.Now().Add(waitLimit)
				for len(buf) < len(payload) && time.Now().Before(deadline) {
					n, err := unix.Read(b, tmp)
					if n <= 0 || err != nil {
						break
					}
					buf = append(buf, tmp[:n]...)
				}
				got <- buf
			}()
			c := reap(t, r, 1)[0]
			if c.Res <= 0 || int(c.Res) >= len(rest) {
				// All of it would mean the ring retried the rest (as with
				// MSG_WAITALL), hiding a slow reader from the caller.
				t.Fatalf("after draining: %+v (%v), want a short write of 1..%d bytes", c, c.Err(), len(rest)-1)
			}
			sent += int(c.Res)
			unix.SetNonblock(a, false)
			writeAll(t, a, payload[sent:]) // the caller's resume after a short write
			mustEqual(t, "received", <-got, payload)
			t.Logf("%s: %d bytes before the wait, %d in the operation (of %d offered)", tc.name, before, c.Res, len(rest))
		})
	}
}

// fillSocket writes payload to the non-blocking fd until the socket refuses
// more and still refuses a moment later (loopback moves queued data to the
// peer's receive queue asynchronously), and returns how much it wrote.
func fillSocket(t *testing.T, fd int, payload []byte) int {
	t.Helper()
	filled := 0
	for round := 0; round < 100; round++ {
		before := filled
		for filled < len(payload)/2 {
			n, err := unix.Write(fd, payload[filled:min(filled+4096, len(payload)/2)])
			if err == unix.EAGAIN {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			filled += n
		}
		if filled >= len(payload)/2 {
			t.Fatalf("the socket took %d bytes without filling up", filled)
		}
		if round > 0 && filled == before {
			return filled
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the socket never stayed full")
	return 0
}
