package fanout

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func unsafeSlice(v unix.Iovec) []byte { return unsafe.Slice(v.Base, v.Len) }
