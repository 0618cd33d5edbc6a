package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/bbllive/bbllive/bench"
)

// benchFloor is `bbllive bench floor`: the kernel's write floor as an RTMP
// endpoint. Its flags mirror those of `bbllive serve` so that the harness
// starts it the same way.
func benchFloor(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "RTMP listen address (port 0: a free one, logged as rtmp=ADDR)")
	flush := fs.String("flush", "message", "when players are written to: message (after every message) or interval")
	interval := fs.Duration("flush-interval", 100*time.Millisecond, "period of -flush interval")
	chunkSize := fs.Uint("chunk-size", bench.DefaultFloorChunkSize, "outbound RTMP chunk size")
	writeTimeout := fs.Duration("write-timeout", bench.DefaultFloorWriteTimeout, "drop a player whose write blocks this long")
	// The harness passes these to every server it starts.
	fs.String("http", "", "accepted for the harness; the floor has no HTTP endpoint")
	fs.Duration("stats-interval", 0, "accepted for the harness; the floor has no stats line")
	if ok, code := parseFlags(fs, args); !ok {
		return code
	}
	cfg := bench.FloorConfig{WriteTimeout: *writeTimeout}
	switch *flush {
	case "message":
	case "interval":
		if *interval <= 0 {
			fmt.Fprintln(os.Stderr, "bbllive bench floor: -flush-interval must be positive")
			return 2
		}
		cfg.Interval = *interval
	default:
		fmt.Fprintf(os.Stderr, "bbllive bench floor: -flush %q: want message or interval\n", *flush)
		return 2
	}
	if *chunkSize < 128 || *chunkSize > 1<<24 {
		fmt.Fprintf(os.Stderr, "bbllive bench floor: -chunk-size %d out of range (128..16777216)\n", *chunkSize)
		return 2
	}
	cfg.ChunkSize = uint32(*chunkSize)
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bbllive bench floor:", err)
		return 1
	}
	cfg.Listener = ln
	if err := bench.RunFloor(ctx, cfg); err != nil {
		cfg.Logger.Error("floor failed", "err", err)
		return 1
	}
	return 0
}
