// Package fanout delivers each published stream to its players.
//
// Every audio, video and data message is serialized once per output format
// that has players — RTMP chunks, FLV tags, WebSocket-framed FLV, … — into
// that format's wire log (an Output of the stream); a player is a cursor
// into its format's log. A Transport (netpoll or io_uring) writes each
// player's range — from its cursor to the head — in one batched write per
// flush, with no per-player copy of media and no knowledge of the format.
// Formats plug in through the Format and Encoder interfaces (format.go);
// the RTMP one is built in, since the Hub is the rtmp.Handler.
//
// The chunk size of the RTMP format is the rtmp.Server's, read from each
// player's session: there is no second setting to keep in step.
package fanout

import (
	"fmt"
	"time"
)

// FlushPolicy says when players are written to.
type FlushPolicy int

// The flush policies.
const (
	// FlushInterval writes every Config.FlushInterval (the default).
	FlushInterval FlushPolicy = iota
	// FlushMessage writes on every message: lowest latency, most syscalls.
	FlushMessage
	// FlushGOP writes when a keyframe arrives, like the original bbllive.
	FlushGOP
)

func (p FlushPolicy) String() string {
	switch p {
	case FlushMessage:
		return "message"
	case FlushGOP:
		return "gop"
	}
	return "interval"
}

// ParseFlushPolicy reads "message", "gop" or "interval".
func ParseFlushPolicy(s string) (FlushPolicy, error) {
	switch s {
	case "message":
		return FlushMessage, nil
	case "gop":
		return FlushGOP, nil
	case "interval", "":
		return FlushInterval, nil
	}
	return 0, fmt.Errorf("unknown flush policy %q (want message, interval or gop)", s)
}

// Config tunes the hub. The zero value of a field means its default.
type Config struct {
	// Flush is when players are written to.
	Flush FlushPolicy
	// FlushInterval is the batching window of FlushInterval.
	FlushInterval time.Duration
	// LagWindow is how far (bytes) a player may fall behind the head
	// before it skips to the newest keyframe.
	LagWindow int
	// MaxCache caps the bytes a stream keeps, GOP cache included; a GOP
	// longer than this is not cached whole.
	MaxCache int
	// SlowTimeout disconnects a player that has not caught up for this long.
	SlowTimeout time.Duration
	// PublishGrace keeps a stream, its players and its timeline after its
	// publisher leaves, waiting for it to come back.
	PublishGrace time.Duration
	// Workers is the number of sender goroutines (default: one per CPU).
	Workers int
	// PlayWait is how long a player of a name nobody publishes waits for
	// a publisher before it is answered "not found".
	PlayWait time.Duration
	// PublisherTimeout closes a publisher that sends no media for this
	// long, which frees its name for a new one.
	PublisherTimeout time.Duration
	// Takeover decides whether a new publisher of a live name replaces the
	// current one; nil refuses it (the first publisher keeps the name).
	Takeover TakeoverFunc
}

// Defaults. 100 ms batching: on this 2-vCPU machine the kernel cost of
// delivering 908 kbps to 1000 loopback sockets is 8.7 % of a core at 100 ms
// against 45 % per message and 4 % at 350 ms (README, Benchmarks); 100 ms keeps
// most of that saving while adding less than three video frames of latency,
// about what the reference server's 8-message merge gives in practice.
const (
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultLagWindow     = 1 << 20
	DefaultMaxCache      = 16 << 20
	DefaultSlowTimeout   = 10 * time.Second
	DefaultPublishGrace  = 30 * time.Second
	// DefaultPlayWait lets a player that arrives a moment before its
	// publisher wait for it, yet answers a mistyped name quickly.
	DefaultPlayWait = 5 * time.Second
	// DefaultPublisherTimeout: an encoder sends media many times a second;
	// five seconds of nothing is a frozen connection, as SRS also judges.
	DefaultPublisherTimeout = 5 * time.Second
)

// MinLagWindow is the smallest LagWindow that makes sense: one block of
// the wire log, about what one 100 ms flush of a 5 Mbps stream holds; a
// smaller window would send players to the newest keyframe after
// ordinary flushes.
const MinLagWindow = blockSize

// MinMaxCache is the smallest MaxCache that works with lagWindow: room for
// two lag windows and two blocks. A smaller MaxCache is raised to it.
func MinMaxCache(lagWindow int) int { return 2*lagWindow + 2*blockSize }

func (c *Config) withDefaults() {
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.LagWindow <= 0 {
		c.LagWindow = DefaultLagWindow
	}
	if c.MaxCache <= 0 {
		c.MaxCache = DefaultMaxCache
	}
	if c.MaxCache < MinMaxCache(c.LagWindow) {
		c.MaxCache = MinMaxCache(c.LagWindow)
	}
	if c.SlowTimeout <= 0 {
		c.SlowTimeout = DefaultSlowTimeout
	}
	if c.PublishGrace <= 0 {
		c.PublishGrace = DefaultPublishGrace
	}
	if c.PlayWait <= 0 {
		c.PlayWait = DefaultPlayWait
	}
	if c.PublisherTimeout <= 0 {
		c.PublisherTimeout = DefaultPublisherTimeout
	}
}
