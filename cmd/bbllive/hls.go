package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/hls"
)

// hlsConfig is the flags of HLS on the -http listener.
type hlsConfig struct {
	on            bool
	part          time.Duration
	segmentTarget time.Duration
	window        int
	segment       string
	always        bool
	idle          time.Duration
}

func (c *hlsConfig) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.on, "hls", true, "serve (LL-)HLS on the -http listener at /APP/NAME/index.m3u8")
	fs.DurationVar(&c.part, "hls-part", hls.DefaultPartTarget, "LL-HLS part duration (PART-TARGET)")
	fs.DurationVar(&c.segmentTarget, "hls-segment-target", hls.DefaultSegmentTarget, "shortest HLS segment; segments end at the next keyframe after it")
	fs.IntVar(&c.window, "hls-window", hls.DefaultWindow, "HLS segments listed and kept in memory per stream")
	fs.StringVar(&c.segment, "hls-segment", "fmp4", "HLS segment format: fmp4 (CMAF)")
	fs.BoolVar(&c.always, "hls-always", false, "remux every live stream for HLS, not only those with HLS viewers")
	fs.DurationVar(&c.idle, "hls-idle", hls.DefaultIdleTimeout, "stop a stream's HLS remuxer this long after its last HLS request")
}

// newHLS builds the HLS handler, or nil when -hls is off.
func newHLS(c *hlsConfig, hub *fanout.Hub, log *slog.Logger) (*hls.Server, error) {
	if !c.on {
		return nil, nil
	}
	if c.segment != "fmp4" {
		return nil, fmt.Errorf("-hls-segment %q: only fmp4 is built (MPEG-TS segments are not yet)", c.segment)
	}
	s, err := hls.NewServer(hub, hls.Config{PartTarget: c.part, SegmentTarget: c.segmentTarget, Window: c.window,
		Always: c.always, IdleTimeout: c.idle}, log)
	if err != nil {
		return nil, fmt.Errorf("-hls: %w", err)
	}
	return s, nil
}

// withHLS routes /APP/NAME/FILE to the HLS handler and the rest to next.
func withHLS(next http.Handler, h *hls.Server) http.Handler {
	if h == nil {
		return next
	}
	mux := http.NewServeMux()
	mux.Handle("/{app}/{name}/{file}", h)
	mux.Handle("/", next)
	return mux
}
