package uring

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// AdvanceIovecs drops the first n bytes from iovs, as after a short WRITEV,
// and returns what is left to write (empty when n covers everything). It
// rewrites the first remaining iovec in place and allocates nothing, so the
// result can be handed straight back to PrepWritev. Negative n is taken as 0.
func AdvanceIovecs(iovs []unix.Iovec, n int) []unix.Iovec {
	n = max(n, 0)
	for len(iovs) > 0 {
		l := int(iovs[0].Len)
		if n < l {
			if n > 0 {
				iovs[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iovs[0].Base), n))
				iovs[0].SetLen(l - n)
			}
			return iovs
		}
		n -= l
		iovs = iovs[1:]
	}
	return iovs
}

// IovecsLen returns the number of bytes iovs cover.
func IovecsLen(iovs []unix.Iovec) int {
	n := 0
	for i := range iovs {
		n += int(iovs[i].Len)
	}
	return n
}

// AppendIovecs appends one iovec per non-empty buffer to dst; with enough
// capacity in dst it allocates nothing.
func AppendIovecs(dst []unix.Iovec, bufs ...[]byte) []unix.Iovec {
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		var v unix.Iovec
		v.Base = &b[0]
		v.SetLen(len(b))
		dst = append(dst, v)
	}
	return dst
}
