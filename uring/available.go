package uring

import (
	"sync"

	"golang.org/x/sys/unix"
)

var availableOnce = sync.OnceValue(probeAvailable)

// Available reports whether io_uring can be used in this process: nil, or an
// error matching ErrUnavailable that says why in plain words (or, rarely,
// another setup failure such as EMFILE). The answer is computed once and
// cached; it costs one io_uring_setup and close.
func Available() error { return availableOnce() }

func probeAvailable() error {
	var p params
	fd, err := sysSetup(1, &p)
	if err != nil {
		return setupError(err, readDisabledSysctl)
	}
	_ = unix.Close(fd)
	return nil
}
