package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"
)

// durationValue is a time.Duration flag whose parse error names the
// format: the flag package's own says only "parse error".
type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 200ms, 5s or 1m30s")
	}
	*d = durationValue(v)
	return nil
}

// durationVar defines a duration flag on fs, as fs.DurationVar does.
func durationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var((*durationValue)(p), name, usage)
}

// validate refuses settings that parse but make no sense, naming the flag.
func (c *serveConfig) validate() error {
	var errs []error
	if c.workers < 0 {
		errs = append(errs, fmt.Errorf("-workers %d: want 0 (one per CPU) or more", c.workers))
	}
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"flush-interval", c.flushInterval}, {"slow-timeout", c.slowTimeout}, {"publish-grace", c.publishGrace},
		{"play-wait", c.playWait}, {"publisher-timeout", c.publisherTimeout},
		{"handshake-timeout", c.handshakeTimeout}, {"idle-timeout", c.idleTimeout}, {"http-header-timeout", c.headerTimeout},
		{"ws-ping-interval", c.media.pingInterval}, {"ws-pong-timeout", c.media.pongTimeout},
		{"origin-timeout", c.relay.originTimeout}, {"forward-timeout", c.relay.fwdTimeout},
		{"origin-refresh", c.relay.originRefresh}, {"edge-linger", c.relay.edgeLinger},
	}
	for _, f := range positive {
		if f.d <= 0 {
			errs = append(errs, fmt.Errorf("-%s %v: want a positive duration such as 200ms", f.name, f.d))
		}
	}
	if c.statsInterval < 0 {
		errs = append(errs, fmt.Errorf("-stats-interval %v: want 0 (off) or a positive duration", c.statsInterval))
	}
	if c.lagWindow <= 0 || c.maxCache <= 0 {
		errs = append(errs, fmt.Errorf("-lag-window %d, -max-cache %d: want positive byte counts", c.lagWindow, c.maxCache))
	}
	if err := c.tls.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// readableDurations makes slog's JSON handler print durations as "1.5s"
// rather than as a count of nanoseconds (the text handler already does).
func readableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}
