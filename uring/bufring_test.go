package uring

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// recvStream collects multishot RECV completions for user_data 1 until want
// bytes arrived or the multishot ended. recycle decides whether buffers go
// straight back to the kernel; held ids are returned otherwise.
func recvStream(t *testing.T, r *Ring, br *BufRing, want int, recycle bool) (data []byte, last CQE, held []uint16) {
	t.Helper()
	for len(data) < want {
		for _, c := range reap(t, r, 1) {
			if c.UserData != 1 {
				t.Fatalf("unexpected CQE %+v", c)
			}
			last = c
			if c.Res < 0 {
				if c.More() {
					t.Fatalf("failed multishot CQE with F_MORE: %+v", c)
				}
				return data, last, held
			}
			b, id, ok := br.Data(c)
			if !ok {
				t.Fatalf("receive CQE without a provided buffer: %+v", c)
			}
			data = append(data, b...)
			if recycle {
				if err := br.Recycle(id); err != nil {
					t.Fatal(err)
				}
			} else {
				held = append(held, id)
			}
			if !c.More() {
				return data, last, held
			}
		}
	}
	return data, last, held
}

func armMultishot(t *testing.T, r *Ring, fd int, br *BufRing) {
	t.Helper()
	s := getSQE(t, r)
	s.PrepRecvMultishot(int32(fd), br.Group(), 0)
	s.SetUserData(1)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
}

func TestMultishotRecvBufRing(t *testing.T) {
	r := newRing(t, 8)
	a, b := tcpPair(t)
	br, err := r.NewBufRing(7, 4, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	armMultishot(t, r, b, br)

	// Recycling: 7 KB through 4 KB of buffers, one message at a time.
	sent := pattern(7000, 1)
	var got []byte
	for i := 0; i < len(sent); i += 700 {
		writeAll(t, a, sent[i:i+700])
		d, last, _ := recvStream(t, r, br, 700, true)
		if !last.More() {
			t.Fatalf("multishot ended while buffers were being recycled: %+v (%v)", last, last.Err())
		}
		got = append(got, d...)
	}
	mustEqual(t, "recycled multishot", got, sent)

	// Running dry: 8 KB with nothing recycled ends the multishot with
	// ENOBUFS after at most 4 KB; the rest waits in the socket.
	sent = pattern(8192, 2)
	writeAll(t, a, sent)
	first, last, held := recvStream(t, r, br, len(sent), false)
	if !errors.Is(last.Err(), unix.ENOBUFS) || last.More() {
		t.Fatalf("dry buffer ring: last CQE %+v (%v), want ENOBUFS without F_MORE", last, last.Err())
	}
	if len(first) > 4096 || len(held) > 4 {
		t.Fatalf("received %d bytes in %d buffers from a 4x1024 ring", len(first), len(held))
	}
	for _, id := range held {
		if err := br.Add(id); err != nil {
			t.Fatal(err)
		}
	}
	br.Publish()
	armMultishot(t, r, b, br)
	rest, _, _ := recvStream(t, r, br, len(sent)-len(first), true)
	mustEqual(t, "multishot after ENOBUFS", append(first, rest...), sent)
}

func TestRecvProvidedSingleShot(t *testing.T) {
	r := newRing(t, 4)
	a, b := tcpPair(t)
	br, err := r.NewBufRing(3, 2, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	s := getSQE(t, r)
	s.PrepRecvProvided(int32(b), br.Group(), 0)
	writeAll(t, a, []byte("provided"))
	c := reap(t, r, 1)[0]
	d, _, ok := br.Data(c)
	if !ok || string(d) != "provided" || c.More() {
		t.Fatalf("single-shot provided recv: %+v %q", c, d)
	}
}

func TestBufRingRejectsBadInput(t *testing.T) {
	r := newRing(t, 2)
	for _, tc := range []struct{ count, size int }{{0, 64}, {3, 64}, {1 << 16, 64}, {4, 0}, {4, 1 << 30}} {
		if br, err := r.NewBufRing(1, tc.count, tc.size); err == nil {
			br.Close()
			t.Errorf("NewBufRing(count %d, size %d) succeeded", tc.count, tc.size)
		}
	}
	br, err := r.NewBufRing(1, 2, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := br.Recycle(2); err == nil {
		t.Error("Recycle of an id past the ring succeeded")
	}
	if br.Buf(5) != nil {
		t.Error("Buf of an id past the ring is not nil")
	}
	for _, c := range []CQE{{Res: 10}, {Res: -int32(unix.ENOBUFS), Flags: CQEFBuffer}, {Res: 65, Flags: CQEFBuffer}, {Res: 1, Flags: CQEFBuffer | 9<<16}} {
		if _, _, ok := br.Data(c); ok {
			t.Errorf("Data(%+v) accepted a CQE it cannot map", c)
		}
	}
	if _, err := r.NewBufRing(1, 2, 64); err == nil {
		t.Error("a second ring for the same group was accepted")
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	if err := br.Close(); err != nil || br.Recycle(0) == nil {
		t.Error("closed BufRing: double Close fails or Recycle works")
	}
}
