package uring

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// flatten reads back the bytes iovs point at.
func flatten(iovs []unix.Iovec) []byte {
	var out []byte
	for _, v := range iovs {
		if v.Len > 0 {
			out = append(out, unsafeBytes(v)...)
		}
	}
	return out
}

func TestAdvanceIovecs(t *testing.T) {
	data := pattern(30, 5)
	parts := [][]byte{data[:10], data[10:10], data[10:25], data[25:]}
	for _, tc := range []struct {
		n, wantIovs int
	}{
		{-3, 3}, {0, 3}, {1, 3}, {9, 3}, {10, 2}, {11, 2}, {25, 1}, {29, 1}, {30, 0}, {1000, 0},
	} {
		iovs := make([]unix.Iovec, 0, 4)
		iovs = append(iovs, unix.Iovec{})   // a zero-length iovec up front is skipped
		iovs = AppendIovecs(iovs, parts...) // AppendIovecs drops the empty part
		left := AdvanceIovecs(iovs, tc.n)
		if len(left) != tc.wantIovs {
			t.Errorf("advance %d: %d iovecs left, want %d", tc.n, len(left), tc.wantIovs)
		}
		skip := min(max(tc.n, 0), len(data))
		if got := flatten(left); !bytes.Equal(got, data[skip:]) {
			t.Errorf("advance %d: %d bytes left, want the last %d", tc.n, len(got), len(data)-skip)
		}
		if IovecsLen(left) != len(data)-skip {
			t.Errorf("advance %d: IovecsLen %d", tc.n, IovecsLen(left))
		}
	}
}

func TestAdvanceIovecsAllocatesNothing(t *testing.T) {
	data := make([]byte, 64)
	src := AppendIovecs(nil, data[:16], data[16:32], data[32:])
	iovs := make([]unix.Iovec, len(src))
	a := testing.AllocsPerRun(100, func() {
		copy(iovs, src)
		left := AdvanceIovecs(iovs, 20)
		_ = AdvanceIovecs(left, 7)
	})
	if a != 0 {
		t.Fatalf("AdvanceIovecs allocates %.1f times", a)
	}
}

// FuzzAdvanceIovecs checks AdvanceIovecs against plain slicing for any
// split of a buffer and any advance, repeated until nothing is left.
func FuzzAdvanceIovecs(f *testing.F) {
	f.Add([]byte{3, 0, 7, 1}, 5, 2)
	f.Add([]byte{0, 0}, 0, 0)
	f.Add([]byte{255, 1, 255}, 300, -4)
	f.Fuzz(func(t *testing.T, lens []byte, n1, n2 int) {
		var parts [][]byte
		total := 0
		for _, l := range lens {
			parts = append(parts, make([]byte, l))
			total += int(l)
		}
		data := pattern(total, 3)
		off := 0
		iovs := make([]unix.Iovec, 0, len(parts))
		for _, p := range parts {
			copy(p, data[off:])
			off += len(p)
			var v unix.Iovec
			if len(p) > 0 {
				v.Base = &p[0]
			}
			v.SetLen(len(p))
			iovs = append(iovs, v) // zero-length ones included on purpose
		}
		done := 0
		for _, n := range []int{n1, n2, total} {
			iovs = AdvanceIovecs(iovs, n)
			done = min(total, done+max(n, 0))
			if got := flatten(iovs); !bytes.Equal(got, data[done:]) {
				t.Fatalf("after advancing to %d: %d bytes left, want %d", done, len(got), total-done)
			}
			if len(iovs) > 0 && iovs[0].Len == 0 {
				t.Fatal("a zero-length iovec left at the front")
			}
		}
		if len(iovs) != 0 {
			t.Fatalf("%d iovecs left after advancing past the end", len(iovs))
		}
	})
}
