package uring

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SQE mirrors struct io_uring_sqe (64 bytes). Get one from Ring.GetSQE, fill
// it with a Prep method, set UserData and, if wanted, Flags, then Submit.
// The fields are exported for the rare operation this package does not
// prepare; their meaning is the kernel's.
type SQE struct {
	Opcode      Op
	Flags       SQEFlag
	IOPrio      uint16
	Fd          int32
	Off         uint64 // also addr2
	Addr        uint64
	Len         uint32
	OpFlags     uint32 // rw_flags, msg_flags, timeout_flags, cancel_flags, …
	UserData    uint64
	BufIndex    uint16 // buf_index, or buf_group with SQEBufferSelect
	Personality uint16
	FileIndex   uint32 // splice_fd_in, file_index, addr_len
	Addr3       uint64
	_           uint64
}

var _ [64 - unsafe.Sizeof(SQE{})]byte // SQE must be exactly 64 bytes
var _ [unsafe.Sizeof(SQE{}) - 64]byte

// GetSQE returns the next free, zeroed submission slot, or nil when the
// submission queue is full: Submit, then ask again. The slot belongs to the
// caller until the next Submit.
func (r *Ring) GetSQE() *SQE {
	q := &r.sq
	if q.tail-atomic.LoadUint32(q.khead) >= q.entries {
		return nil
	}
	s := &q.sqes[q.tail&q.mask]
	q.tail++
	*s = SQE{}
	return s
}

// SQSpace returns how many more SQEs GetSQE can hand out before a Submit.
func (r *Ring) SQSpace() uint32 {
	return r.sq.entries - (r.sq.tail - atomic.LoadUint32(r.sq.khead))
}

// SQPending returns how many SQEs were prepared but not yet consumed by the
// kernel.
func (r *Ring) SQPending() uint32 { return r.sq.tail - atomic.LoadUint32(r.sq.khead) }

// flushSQ publishes prepared SQEs to the kernel. It returns how many were
// newly published and how many the kernel has yet to consume.
func (r *Ring) flushSQ() (published, pending uint32) {
	q := &r.sq
	old := atomic.LoadUint32(q.ktail)
	if old != q.tail {
		atomic.StoreUint32(q.ktail, q.tail)
	}
	return q.tail - old, q.tail - atomic.LoadUint32(q.khead)
}

// SetUserData sets the value the completion will carry back.
func (s *SQE) SetUserData(v uint64) { s.UserData = v }

// SetFlags adds submission flags (SQEIOLink, SQEFixedFile, …).
func (s *SQE) SetFlags(f SQEFlag) { s.Flags |= f }

func (s *SQE) prepRW(op Op, fd int32, addr uint64, n uint32, off uint64) {
	s.Opcode, s.Fd, s.Addr, s.Len, s.Off = op, fd, addr, n, off
}

// PrepNop prepares a no-op, useful as a wake-up or a barrier.
func (s *SQE) PrepNop() { s.prepRW(OpNop, -1, 0, 0, 0) }

// PrepRead reads into b at offset off (use 0 for sockets, pipes, eventfds).
func (s *SQE) PrepRead(fd int32, b []byte, off uint64) {
	s.prepRW(OpRead, fd, addrOf(b), uint32(len(b)), off)
}

// PrepWrite writes b at offset off (use 0 for sockets, pipes, eventfds).
func (s *SQE) PrepWrite(fd int32, b []byte, off uint64) {
	s.prepRW(OpWrite, fd, addrOf(b), uint32(len(b)), off)
}

// PrepWritev writes the buffers named by iovs. The iovec array and the
// memory it points to must stay valid until the completion. On a socket the
// write may complete short: resume with AdvanceIovecs.
func (s *SQE) PrepWritev(fd int32, iovs []unix.Iovec, off uint64) {
	p := unsafe.Pointer(unsafe.SliceData(iovs))
	escape(p)
	s.prepRW(OpWritev, fd, uint64(uintptr(p)), uint32(len(iovs)), off)
}

// PrepWriteFixed writes b, which must lie inside the registered buffer
// bufIndex. On a socket the write may complete short.
func (s *SQE) PrepWriteFixed(fd int32, b []byte, off uint64, bufIndex uint16) {
	s.prepRW(OpWriteFixed, fd, addrOf(b), uint32(len(b)), off)
	s.BufIndex = bufIndex
}

// PrepRecv receives into b. msgFlags are recv(2) flags (unix.MSG_*).
func (s *SQE) PrepRecv(fd int32, b []byte, msgFlags uint32) {
	s.prepRW(OpRecv, fd, addrOf(b), uint32(len(b)), 0)
	s.OpFlags = msgFlags
}

// PrepRecvProvided receives once into a buffer the kernel picks from the
// provided-buffer group; CQE.BufferID says which.
func (s *SQE) PrepRecvProvided(fd int32, group uint16, msgFlags uint32) {
	s.prepRW(OpRecv, fd, 0, 0, 0)
	s.OpFlags = msgFlags
	s.Flags |= SQEBufferSelect
	s.BufIndex = group
}

// PrepRecvMultishot arms a receive that posts one CQE per arrival, each in a
// buffer from the provided-buffer group, for as long as CQEFMore is set.
// It ends (a CQE without CQEFMore) on error, EOF (Res 0), cancellation, or
// ENOBUFS when the group runs dry; re-arm it after recycling buffers.
func (s *SQE) PrepRecvMultishot(fd int32, group uint16, msgFlags uint32) {
	s.PrepRecvProvided(fd, group, msgFlags)
	s.IOPrio |= recvMultishot
}

// PrepSend sends b. Note that SEND does not take registered buffers here
// (the kernel answers EINVAL): use PrepSendZCFixed or PrepWriteFixed.
func (s *SQE) PrepSend(fd int32, b []byte, msgFlags uint32) {
	s.prepRW(OpSend, fd, addrOf(b), uint32(len(b)), 0)
	s.OpFlags = msgFlags
}

// PrepSendZC sends b without copying it. Two CQEs come back with the same
// UserData: the result (with CQEFMore set when a notification follows) and
// later a notification (CQEFNotif) after which b may be reused.
// zcFlags takes SendZCReportUsage and RecvSendPollFirst.
func (s *SQE) PrepSendZC(fd int32, b []byte, msgFlags uint32, zcFlags uint16) {
	s.prepRW(OpSendZC, fd, addrOf(b), uint32(len(b)), 0)
	s.OpFlags = msgFlags
	s.IOPrio = zcFlags
}

// PrepSendZCFixed is PrepSendZC from inside the registered buffer bufIndex.
func (s *SQE) PrepSendZCFixed(fd int32, b []byte, msgFlags uint32, zcFlags uint16, bufIndex uint16) {
	s.PrepSendZC(fd, b, msgFlags, zcFlags)
	s.IOPrio |= recvSendFixedBuf
	s.BufIndex = bufIndex
}

// PrepCancel cancels the request whose UserData is target (CancelAll: every
// such request). Its own CQE has Res 0 on success, -ENOENT when nothing
// matched and -EALREADY when the target was already running.
func (s *SQE) PrepCancel(target uint64, flags uint32) {
	s.prepRW(OpAsyncCancel, -1, target, 0, 0)
	s.OpFlags = flags
}

// PrepCancelFD cancels requests on fd (CancelAll: all of them; with
// CancelFDFixed fd is a registered file index).
func (s *SQE) PrepCancelFD(fd int32, flags uint32) {
	s.prepRW(OpAsyncCancel, fd, 0, 0, 0)
	s.OpFlags = flags | cancelFD
}

// PrepClose closes fd.
func (s *SQE) PrepClose(fd int32) { s.prepRW(OpClose, fd, 0, 0, 0) }

// PrepCloseDirect empties slot of the registered file table.
func (s *SQE) PrepCloseDirect(slot uint32) {
	s.prepRW(OpClose, 0, 0, 0, 0)
	s.FileIndex = slot + 1
}

// PrepTimeout completes after ts (relative, or absolute with TimeoutAbs) with
// -ETIME, or earlier with Res 0 once count other completions have been
// posted (count 0: time only). The kernel reads *ts during submission, so it
// may be reused after Submit returns (with SQPOLL: after the SQE is consumed).
func (s *SQE) PrepTimeout(ts *Timespec, count uint32, flags uint32) {
	p := unsafe.Pointer(ts)
	escape(p)
	s.prepRW(OpTimeout, -1, uint64(uintptr(p)), 1, uint64(count))
	s.OpFlags = flags
}

// PrepLinkTimeout bounds the previous SQE, which must carry SQEIOLink: if it
// has not completed within ts it is cancelled (-ECANCELED) and this CQE has
// -ETIME; otherwise this CQE has -ECANCELED. *ts is read during submission.
func (s *SQE) PrepLinkTimeout(ts *Timespec, flags uint32) {
	p := unsafe.Pointer(ts)
	escape(p)
	s.prepRW(OpLinkTimeout, -1, uint64(uintptr(p)), 1, 0)
	s.OpFlags = flags
}
