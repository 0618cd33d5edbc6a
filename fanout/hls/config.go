// Package hls serves a stream's live media as Low-Latency HLS: a
// segmenter remuxes the stream once (through fanout's Tap, off the
// ingesting goroutine) into CMAF parts and GOP-aligned segments kept in
// memory, and an http.Handler serves the playlist — with blocking reloads
// — the init segments, segments and parts, with the headers caches and
// browsers need.
//
// Paths, below wherever the handler is mounted:
//
//	/APP/NAME/index.m3u8             the media playlist (LL-HLS tags; plain HLS players ignore them)
//	/APP/NAME/init-EPOCH-N.mp4       init segment N (a new one when the publisher's settings change)
//	/APP/NAME/EPOCH-MSN.m4s          segment MSN
//	/APP/NAME/EPOCH-MSN.PART.m4s     part PART of segment MSN
//
// EPOCH names one run of a stream's remuxer, so a restarted remuxer never
// reuses a name a cache holds for other bytes.
package hls

import (
	"fmt"
	"time"
)

// Config tunes the segmenter and the server. Zero fields take the
// defaults below; Validate reports values that cannot work.
type Config struct {
	// PartTarget is the duration of a part (EXT-X-PART-INF PART-TARGET).
	PartTarget time.Duration
	// SegmentTarget is the shortest segment: a segment ends at the first
	// keyframe at or after it, so segments are whole GOPs.
	SegmentTarget time.Duration
	// Window is how many complete segments the playlist lists and memory
	// keeps; older ones are dropped.
	Window int
	// Always remuxes every live stream, not only those with HLS viewers
	// (the first viewer then finds a full window).
	Always bool
	// IdleTimeout stops a stream's remuxer this long after its last HLS
	// request (unless Always).
	IdleTimeout time.Duration
	// SessionIdle ends a protected stream's HLS viewer (its on_stop, its
	// place in the limits) this long after its last playlist request.
	// Only used while access control is on.
	SessionIdle time.Duration
	// Format is the segment format: FormatFMP4 (CMAF, the default) or
	// FormatTS (MPEG-TS, H.264 and AAC only, for players that predate
	// fragmented MP4).
	Format string
	// QueueLen bounds the messages waiting between ingest and the remuxer;
	// when it is full, messages are dropped (and counted) up to the next
	// keyframe, never waited for.
	QueueLen int
}

// Defaults: 200 ms parts as Apple recommends for LL-HLS; 2 s segments
// keep a cache's object count low and are whole GOPs of the usual 1-2 s
// encoder settings; 6 segments give ordinary HLS players their three
// target durations of hold-back with room to spare.
const (
	DefaultPartTarget    = 200 * time.Millisecond
	DefaultSegmentTarget = 2 * time.Second
	DefaultWindow        = 6
	DefaultIdleTimeout   = 30 * time.Second
	DefaultSessionIdle   = 15 * time.Second
	DefaultQueueLen      = 1024
)

// MinPartTarget is the shortest part Validate accepts, about one video
// frame at 50 fps.
const MinPartTarget = 20 * time.Millisecond

func (c *Config) withDefaults() {
	if c.PartTarget <= 0 {
		c.PartTarget = DefaultPartTarget
	}
	if c.SegmentTarget <= 0 {
		c.SegmentTarget = DefaultSegmentTarget
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.SessionIdle <= 0 {
		c.SessionIdle = DefaultSessionIdle
	}
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.Format == "" {
		c.Format = FormatFMP4
	}
}

// Validate reports settings that cannot make a valid playlist. Zero
// values are valid (they mean the defaults).
func (c Config) Validate() error {
	switch {
	case c.PartTarget < 0 || c.PartTarget > 0 && c.PartTarget < MinPartTarget:
		return fmt.Errorf("hls: part target %s is below %s", c.PartTarget, MinPartTarget)
	case c.SegmentTarget < 0:
		return fmt.Errorf("hls: segment target %s is negative", c.SegmentTarget)
	case c.Window < 0:
		return fmt.Errorf("hls: window %d is negative", c.Window)
	case c.Format != "" && c.Format != FormatFMP4 && c.Format != FormatTS:
		return fmt.Errorf("hls: segment format %q: want fmp4 or ts", c.Format)
	}
	d := c
	d.withDefaults()
	if d.PartTarget > d.SegmentTarget {
		return fmt.Errorf("hls: part target %s exceeds the segment target %s", d.PartTarget, d.SegmentTarget)
	}
	return nil
}
