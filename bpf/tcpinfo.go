package bpf

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// TCPInfo is the Source that needs no privilege: when asked, it walks the
// process's own descriptors (/proc/self/fd) and reads each TCP socket's
// figures with getsockopt(TCP_INFO) and the SIOCINQ/SIOCOUTQ ioctls, the
// same kernel counters the eBPF iterator reads, with the same meaning. It
// costs four system calls per socket per read (BenchmarkSources).
//
// It cannot see a socket after the process closed it, so whoever closes a
// connection calls Retire with its descriptor just before; without that,
// what a connection sent between the last read and its close is not
// counted.
//
// Byte figures need Linux 4.19 or later (tcpi_bytes_sent, tcpi_bytes_retrans).
type TCPInfo struct {
	fdDir string

	mu     sync.Mutex
	closed map[uint64]SocketStats
	order  []uint64 // cookies of closed, oldest first; may hold drained ones
	max    int
}

// NewTCPInfo returns the TCP_INFO source of the calling process. maxClosed
// bounds the final figures kept by Retire until Retired takes them (the
// oldest go first); zero means DefaultMaxClosed.
func NewTCPInfo(maxClosed int) (*TCPInfo, error) {
	if maxClosed < 0 || maxClosed > 1<<24 {
		return nil, fmt.Errorf("bpf: NewTCPInfo maxClosed %d out of range [0, %d]", maxClosed, 1<<24)
	}
	if maxClosed == 0 {
		maxClosed = DefaultMaxClosed
	}
	t := &TCPInfo{fdDir: "/proc/self/fd", closed: make(map[uint64]SocketStats), max: maxClosed}
	if _, err := os.Stat(t.fdDir); err != nil {
		return nil, fmt.Errorf("bpf: TCP_INFO source needs /proc: %w", err)
	}
	return t, nil
}

// Name implements Source: "tcp_info".
func (t *TCPInfo) Name() string { return SourceTCPInfo }

// Snapshot implements Source: the figures of every TCP socket among the
// process's descriptors (listeners left out), by cookie.
func (t *TCPInfo) Snapshot() (map[uint64]SocketStats, error) {
	dir, err := os.Open(t.fdDir)
	if err != nil {
		return nil, fmt.Errorf("bpf: listing descriptors: %w", err)
	}
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return nil, fmt.Errorf("bpf: listing descriptors: %w", err)
	}
	now := time.Now()
	out := make(map[uint64]SocketStats, len(names))
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if s, err := readFD(fd, now); err == nil {
			out[s.Cookie] = s
		}
	}
	return out, nil
}

// Retire takes the final figures of the TCP socket fd, to be returned once
// by Retired. Call it just before the process closes fd; a descriptor that
// is not a TCP socket is ignored.
func (t *TCPInfo) Retire(fd int) {
	s, err := readFD(fd, time.Now())
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.closed[s.Cookie]; !ok {
		t.order = append(t.order, s.Cookie)
	}
	t.closed[s.Cookie] = s
	for len(t.closed) > t.max {
		delete(t.closed, t.order[0])
		t.order = t.order[1:]
	}
	if len(t.order) > 2*t.max { // drop drained cookies, keep the order
		live := t.order[:0]
		for _, k := range t.order {
			if _, ok := t.closed[k]; ok {
				live = append(live, k)
			}
		}
		t.order = live
	}
}

// Retired implements Source: the figures Retire took, once.
func (t *TCPInfo) Retired(cookie uint64) (SocketStats, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.closed[cookie]
	delete(t.closed, cookie)
	return s, ok
}

// The kernel's TCP states (include/net/tcp_states.h) the figures depend on.
const (
	tcpFinWait1  = 4
	tcpTimeWait  = 6
	tcpClose     = 7
	tcpCloseWait = 8
	tcpLastAck   = 9
	tcpListen    = 10
	tcpClosing   = 11
)

// readFD reads one TCP socket's figures; an error for anything else (not a
// socket, not TCP, a listener, closed meanwhile).
//
// The cookie is read first: should fd be closed and reused between the
// calls, the old cookie gets the new socket's smaller figures, which the
// Collector's only-forward rule ignores, never the reverse. Figures are
// derived as c/sockstats.c derives them, from the same fields:
//
//	sent     = tcpi_bytes_sent − tcpi_bytes_retrans + tcpi_notsent_bytes
//	received = tcpi_bytes_received − SIOCINQ
//
// less a FIN queued (counted in notsent) or received (in bytes_received).
// SIOCINQ is read after TCP_INFO, so a concurrent read or arrival can only
// make received lag, never run ahead.
func readFD(fd int, now time.Time) (SocketStats, error) {
	cookie, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
	if err != nil {
		return SocketStats{}, err
	}
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return SocketStats{}, err
	}
	if info.State == tcpListen {
		return SocketStats{}, unix.EINVAL
	}
	inq, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return SocketStats{}, err
	}
	outq, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return SocketStats{}, err
	}
	return tcpInfoStats(cookie, info, uint64(inq), uint32(outq), now), nil
}

// finReceived reports whether a socket in state has the peer's FIN counted
// in its bytes_received. TCP_INFO cannot tell a CLOSE reached by a reset
// from one reached by both FINs (a half-closed socket whose peer then
// closed, as after the io_uring transport's shutdown); the second is how
// the server's connections end, so CLOSE counts as FIN received and a reset
// one would read one byte short.
func finReceived(state int) bool {
	switch state {
	case tcpCloseWait, tcpLastAck, tcpClosing, tcpTimeWait, tcpClose:
		return true
	}
	return false
}

// tcpInfoStats converts one reading.
func tcpInfoStats(cookie uint64, info *unix.TCPInfo, inq uint64, outq uint32, now time.Time) SocketStats {
	state := int(info.State)
	unsent := uint64(info.Notsent_bytes)
	if unsent > 0 && (state == tcpFinWait1 || state == tcpClosing || state == tcpLastAck) {
		unsent--
	}
	received := info.Bytes_received - min(inq, info.Bytes_received)
	if received > 0 && finReceived(state) {
		received--
	}
	return SocketStats{
		Cookie:        cookie,
		BytesSent:     info.Bytes_sent - info.Bytes_retrans + unsent,
		BytesReceived: received,
		SegmentsOut:   uint64(info.Data_segs_out),
		SegmentsIn:    uint64(info.Data_segs_in),
		Retransmits:   uint64(info.Total_retrans),
		SRTT:          time.Duration(info.Rtt) * time.Microsecond,
		Cwnd:          info.Snd_cwnd,
		SendQueue:     outq,
		Updated:       now,
	}
}
