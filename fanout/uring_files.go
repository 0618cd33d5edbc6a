package fanout

import (
	"github.com/bbllive/bbllive/uring"
	"golang.org/x/sys/unix"
)

// Connections are registered with their worker's ring as fixed files: an
// operation on a plain descriptor costs the kernel a file-table lookup and
// a reference taken and dropped (fget, io_file_get_flags, fput: about 5 % of
// the server's CPU at per-message flush, where every message is a write per
// player). A registered file is looked up by index with no reference count.
//
// A connection's fixed-file index is its worker slot, so the slot allocator
// is the file allocator and a slot reused is a file index reused. Slots past
// the table's end, and every slot on a kernel that refuses the table, use
// the plain descriptor: registration is an optimisation, never a condition.
//
// The table holds its own reference to each file, so a connection's entry
// is emptied before its descriptor is closed; otherwise the socket would
// outlive its close (no tcp_close, no final byte counts for the eBPF probes)
// until the ring itself went away.

// maxFixedFiles is the table size each ring asks for, bounded by the
// process's descriptor limit (the kernel refuses a larger table). Eight
// bytes of kernel memory a slot. A variable so tests can exhaust it.
var maxFixedFiles = 1 << 16

// minFixedFiles is the smallest table worth having; below it, plain fds.
const minFixedFiles = 16

// setupFiles registers an empty fixed-file table, as large as the
// descriptor limit allows. Failure only leaves the table off.
func (w *uringWorker) setupFiles() {
	n := maxFixedFiles
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < uint64(n) {
		n = int(lim.Cur)
	}
	for ; n >= minFixedFiles; n /= 2 {
		err := w.ring.RegisterFilesSparse(uint32(n))
		if err == nil {
			w.files = n
			return
		}
		w.t.logger.Debug("io_uring fixed-file table refused; trying smaller", "worker", w.id, "slots", n, "err", err)
	}
	w.t.logger.Info("io_uring fixed files unavailable; using plain descriptors", "worker", w.id)
}

// registerFile puts uc's descriptor in the fixed-file table at its slot, if
// the table reaches that far, and makes uc's operations name it there.
func (w *uringWorker) registerFile(uc *uringConn) {
	uc.rfd, uc.rflags = uc.fd, 0
	if uc.slot >= w.files {
		return
	}
	w.fdArg[0] = uc.fd
	if n, err := w.ring.UpdateFiles(uint32(uc.slot), w.fdArg[:]); err != nil || n != 1 {
		w.t.logger.Debug("io_uring fixed-file update failed; using the plain descriptor", "worker", w.id, "slot", uc.slot, "err", err)
		return
	}
	uc.rfd, uc.rflags = int32(uc.slot), uring.SQEFixedFile
}

// releaseFile empties uc's fixed-file entry, dropping the ring's reference
// to the socket so that closing the descriptor closes the socket. Call it
// only once nothing is in flight on uc.
func (w *uringWorker) releaseFile(uc *uringConn) {
	if uc.rflags&uring.SQEFixedFile == 0 {
		return
	}
	uc.rfd, uc.rflags = uc.fd, 0
	w.fdArg[0] = -1
	if _, err := w.ring.UpdateFiles(uint32(uc.slot), w.fdArg[:]); err != nil {
		// The ring is failing; closing it (the worker's next step) drops
		// the reference instead.
		w.t.logger.Warn("io_uring fixed-file release failed", "worker", w.id, "slot", uc.slot, "err", err)
	}
}

// useFile makes sqe, prepared with uc.rfd, name uc's connection.
func (uc *uringConn) useFile(sqe *uring.SQE) {
	sqe.SetFlags(uc.rflags)
}
