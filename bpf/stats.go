package bpf

import (
	"time"

	"golang.org/x/sys/unix"
)

// SocketStats are the kernel's figures for one TCP socket. The byte and call
// counters are exact and cumulative since the socket's first send or
// receive; the congestion fields are a snapshot taken at the socket's last
// send, receive or retransmission (see Updated).
type SocketStats struct {
	// Cookie is the socket's SO_COOKIE, the key joining it to a connection.
	Cookie uint64 `json:"cookie"`
	// BytesSent is what successful send calls (write, writev, sendmsg,
	// io_uring sends, …) handed to the kernel.
	BytesSent uint64 `json:"bytes_sent"`
	// BytesReceived is what successful receive calls took from the kernel
	// (MSG_PEEK excluded).
	BytesReceived uint64 `json:"bytes_received"`
	// Sends and Receives count the successful calls, so BytesSent/Sends is
	// the mean write size the batching achieved.
	Sends    uint64 `json:"sends"`
	Receives uint64 `json:"receives"`
	// Retransmits counts retransmitted TCP segments (the kernel's
	// total_retrans, as TCP_INFO reports it), refreshed at every send,
	// receive and retransmission, so it rises even while the application
	// does not touch the socket.
	Retransmits uint64 `json:"retransmits"`
	// SRTT is the kernel's smoothed round-trip time estimate.
	SRTT time.Duration `json:"srtt_ns"`
	// Cwnd is the congestion window in segments.
	Cwnd uint32 `json:"cwnd"`
	// SendQueue is the bytes written but not yet acknowledged by the peer
	// (what ss shows as Send-Q): a player falling behind shows here first.
	SendQueue uint32 `json:"send_queue"`
	// Updated is when SRTT, Cwnd and SendQueue were read; zero if never.
	Updated time.Time `json:"updated"`
}

// monoClock converts bpf_ktime_get_ns (CLOCK_MONOTONIC) readings into wall
// time; a variable so tests can pin it.
var monoClock = func() (mono time.Duration, wall time.Time) {
	var ts unix.Timespec
	wall = time.Now()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, wall
	}
	return time.Duration(ts.Nano()), wall
}

// socketStats converts the map value shared with c/sockstats.c.
func socketStats(cookie uint64, v *sockstatsSockStats) SocketStats {
	s := SocketStats{
		Cookie:        cookie,
		BytesSent:     v.BytesSent,
		BytesReceived: v.BytesReceived,
		Sends:         v.Sends,
		Receives:      v.Receives,
		Retransmits:   uint64(v.TotalRetrans),
		SRTT:          time.Duration(v.SrttUs) * time.Microsecond,
		Cwnd:          v.SndCwnd,
		SendQueue:     v.SendQueue,
	}
	if v.UpdatedNs != 0 {
		mono, wall := monoClock()
		if mono != 0 {
			s.Updated = wall.Add(time.Duration(v.UpdatedNs) - mono)
		}
	}
	return s
}
