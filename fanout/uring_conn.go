package fanout

import (
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/bbllive/bbllive/rtmp"
	"github.com/bbllive/bbllive/uring"
	"golang.org/x/sys/unix"
)

// uringConn is a player's or a publisher's connection on its worker.
//
// The fields every write touches come first, within two cache lines
// together with the first pins (a write rarely spans more than two
// blocks; sentAt and iov are only stored to on the hot path): at
// per-message flush each player is visited about 70 times a second, and
// between visits the kernel's TCP work for a thousand others evicts it, so
// each line a visit touches is a cache miss (perf showed the first access
// of each pass and completion as the worker's hottest instructions).
type uringConn struct {
	p    *Player // a player, or nil for a publisher
	slot int
	// How ring operations name the connection: its fixed-file index with
	// SQEFixedFile, or fd (uring_files.go).
	rfd       int32
	rflags    uring.SQEFlag
	inflight  bool // a player's write is in flight
	broken    bool // a link of the chain came back short
	closing   bool
	recvArmed bool
	results   int32 // result CQEs outstanding
	notifs    int32 // SEND_ZC notifications outstanding
	niov      int32
	npins     int32
	written   int
	st        step
	pins      [maxUringIov]*block // the first few share the header's lines

	sentAt time.Time
	iov    [maxUringIov]unix.Iovec

	pub   *publisher // a publisher
	sess  *rtmp.Session
	fd    int32
	ownFD bool // fd is a duplicate the worker closes (the net.Conn is closed already)

	// Input: the session's parser, continued, and bytes it had read ahead.
	input    *rtmp.ChunkParser
	pending  []byte
	lastRecv time.Time

	endErr error
}

func (uc *uringConn) bufRing(w *uringWorker) (*uring.BufRing, uint16) {
	if uc.pub != nil {
		return w.large, pubGroup
	}
	return w.small, playerGroup
}

func (w *uringWorker) armRecv(uc *uringConn) {
	if uc.closing || uc.recvArmed {
		return
	}
	sqe := w.getSQE()
	if sqe == nil {
		return // retried by the next pass or receive
	}
	_, group := uc.bufRing(w)
	sqe.PrepRecvMultishot(uc.rfd, group, 0)
	uc.useFile(sqe)
	sqe.SetUserData(userData(opRecv, uc.slot))
	uc.recvArmed = true
}

func (w *uringWorker) recvDone(uc *uringConn, c uring.CQE) {
	if !c.More() {
		uc.recvArmed = false
	}
	br, _ := uc.bufRing(w)
	data, id, ok := br.Data(c)
	switch {
	case ok:
		w.counts.recvs++
		uc.lastRecv = w.reapedAt
		if len(data) > 0 {
			w.input(uc, data)
		}
		br.Recycle(id)
		if c.Res == 0 && !uc.closing {
			w.beginClose(uc, io.EOF) // orderly end
		}
	case c.Res == 0:
		if !uc.closing {
			w.beginClose(uc, io.EOF)
		}
	case c.Res == -int32(unix.ENOBUFS):
		// Input outran the buffers: the kernel stopped this receive.
	case c.Res < 0 && c.Res != -int32(unix.ECANCELED):
		if !uc.closing {
			w.beginClose(uc, syscall.Errno(-c.Res))
		}
	}
	if !uc.recvArmed && !uc.closing {
		w.armRecv(uc)
	}
}

// input continues the session's parsing of what the peer sent and hands
// each message to the session, as its own reader would have: a player's
// acks are absorbed and closeStream ends it; a publisher's media is
// ingested; a command out of order is an error.
func (w *uringWorker) input(uc *uringConn, data []byte) {
	if uc.closing {
		return
	}
	if uc.input == nil { // not RTMP: the player's own Input, if any
		if uc.p != nil {
			if err := uc.p.Feed(data); err != nil {
				w.beginClose(uc, err)
			}
		}
		return
	}
	err := uc.input.Feed(data, func(m *rtmp.Message) error {
		if uc.sess == nil {
			return nil
		}
		return uc.sess.Input(m)
	})
	switch {
	case err != nil:
		w.beginClose(uc, err)
	case uc.p != nil && uc.p.closed.Load():
		w.beginClose(uc, io.EOF) // the player stopped the stream
	}
}

// beginClose shuts the socket down so that every operation in flight on it
// completes; the connection is finished once they have.
func (w *uringWorker) beginClose(uc *uringConn, err error) {
	if uc.closing {
		return
	}
	uc.closing, uc.endErr = true, err
	if uc.p != nil {
		uc.p.gone.Store(true)
	}
	unix.Shutdown(int(uc.fd), unix.SHUT_RDWR)
	w.maybeFinish(uc)
}

// maybeFinish releases a closing connection once nothing is in flight.
func (w *uringWorker) maybeFinish(uc *uringConn) {
	if !uc.closing || uc.inflight || uc.recvArmed || w.slots[uc.slot] != uc {
		return
	}
	w.unpin(uc)
	w.releaseFile(uc)
	w.slots[uc.slot] = nil
	w.free = append(w.free, uc.slot)
	w.live--
	if uc.pub != nil {
		w.pubs = remove(w.pubs, uc)
		if uc.ownFD {
			closeDup(uc.pub.sess.Conn(), uc.fd)
		} else {
			uc.pub.sess.Conn().Close()
		}
		uc.pub.Close()
	} else {
		o := uc.p.out
		w.outputs[o] = remove(w.outputs[o], uc)
		if len(w.outputs[o]) == 0 {
			w.dropOutput(o)
		}
		uc.p.conn.Close()
		uc.p.Close()
	}
	if uc.sess != nil {
		uc.sess.Finish(uc.endErr)
	}
}

func remove(list []*uringConn, uc *uringConn) []*uringConn {
	for i, x := range list {
		if x == uc {
			last := len(list) - 1
			list[i], list[last] = list[last], nil
			return list[:last]
		}
	}
	return list
}

// shutdownAll starts closing every connection (transport shutdown).
func (w *uringWorker) shutdownAll() {
	w.collect()
	for _, uc := range w.slots {
		if uc != nil && !uc.closing {
			w.beginClose(uc, nil)
		}
	}
}

// closeAllNow releases every connection without waiting for the ring (it
// failed).
func (w *uringWorker) closeAllNow(err error) {
	for _, uc := range w.slots {
		if uc == nil {
			continue
		}
		uc.closing, uc.inflight, uc.recvArmed, uc.endErr = true, false, false, err
		w.maybeFinish(uc)
	}
}

// errIdle is how a silent publisher's session ends, as the session's own
// read deadline would have ended it.
func errIdle(d time.Duration) error {
	return &rtmp.ProtocolError{Reason: "idle_timeout", Detail: fmt.Sprintf("nothing received for %v", d)}
}
