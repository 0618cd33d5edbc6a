package bpf

import (
	"time"

	"golang.org/x/sys/unix"
)

// SocketStats are the kernel's figures for one TCP socket, read from its
// tcp_sock when asked for (or when the process closed it). The byte
// counters are exact and cumulative over the socket's life, SYN and FIN
// excluded; they never include a byte twice, however often TCP
// retransmitted it.
type SocketStats struct {
	// Cookie is the socket's SO_COOKIE, the key joining it to a connection.
	Cookie uint64 `json:"cookie"`
	// BytesSent is what the application handed to the kernel (write,
	// writev, sendmsg, io_uring sends, …): transmitted once, or queued.
	BytesSent uint64 `json:"bytes_sent"`
	// BytesReceived is what the application took from the kernel
	// (MSG_PEEK excluded): arrived in order and read.
	BytesReceived uint64 `json:"bytes_received"`
	// SegmentsOut and SegmentsIn count TCP segments carrying data, so
	// BytesSent/SegmentsOut is the mean segment the batching achieved.
	SegmentsOut uint64 `json:"segments_out"`
	SegmentsIn  uint64 `json:"segments_in"`
	// Retransmits counts retransmitted TCP segments (the kernel's
	// total_retrans, as TCP_INFO and ss report it).
	Retransmits uint64 `json:"retransmits"`
	// SRTT is the kernel's smoothed round-trip time estimate.
	SRTT time.Duration `json:"srtt_ns"`
	// Cwnd is the congestion window in segments.
	Cwnd uint32 `json:"cwnd"`
	// SendQueue is the bytes written but not yet acknowledged by the peer
	// (what ss shows as Send-Q): a player falling behind shows here first.
	SendQueue uint32 `json:"send_queue"`
	// Updated is when the kernel read these figures.
	Updated time.Time `json:"updated"`
}

// monoToWall converts bpf_ktime_get_ns (CLOCK_MONOTONIC) readings into
// wall time, from one reading of both clocks shared by a batch of records.
type monoToWall struct {
	mono time.Duration
	wall time.Time
}

func newMonoToWall() monoToWall {
	var ts unix.Timespec
	wall := time.Now()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return monoToWall{wall: wall}
	}
	return monoToWall{time.Duration(ts.Nano()), wall}
}

// at is the wall time of a bpf_ktime_get_ns reading; zero if unknown.
func (c monoToWall) at(ns uint64) time.Time {
	if ns == 0 || c.mono == 0 {
		return time.Time{}
	}
	return c.wall.Add(time.Duration(ns) - c.mono)
}

// socketStats converts the record shared with c/sockstats.c.
func socketStats(v *sockstatsSockStats, clock monoToWall) SocketStats {
	return SocketStats{
		Cookie:        v.Cookie,
		BytesSent:     v.BytesSent,
		BytesReceived: v.BytesReceived,
		SegmentsOut:   v.SegsOut,
		SegmentsIn:    v.SegsIn,
		Retransmits:   uint64(v.TotalRetrans),
		SRTT:          time.Duration(v.SrttUs) * time.Microsecond,
		Cwnd:          v.SndCwnd,
		SendQueue:     v.SendQueue,
		Updated:       clock.at(v.ReadNs),
	}
}
