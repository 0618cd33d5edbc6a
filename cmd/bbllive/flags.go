package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/hls"
	"github.com/bbllive/bbllive/rtmp"
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

// Get implements flag.Getter, so that the bounds test finds every
// duration flag.
func (d *durationValue) Get() any { return time.Duration(*d) }

// durationVar defines a duration flag on fs, as fs.DurationVar does.
func durationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var((*durationValue)(p), name, usage)
}

// settingError is a value validate refuses. It names the flag, so that
// parseServeArgs can say where the value came from: the command line or a
// line of the -config file.
type settingError struct {
	flag  string // without the dash
	value string // as the flag prints it
	want  string // what the flag allows
}

func (e *settingError) Error() string { return fmt.Sprintf("-%s %s: %s", e.flag, e.value, e.want) }

// limit is one end of a flag's range: a fixed number, or one that follows
// the flag dep, which text then names (for -h, and beside the number in an
// error).
type limit struct {
	of   func(*serveConfig) int64
	text string
	dep  string
}

func fixed[T ~int | ~int64](n T) limit {
	v := int64(n)
	return limit{of: func(*serveConfig) int64 { return v }}
}

// positive is the lower end of a flag whose every value above 0 works.
var positive = fixed(1)

// bound is the range of one numeric flag of serve: validate refuses a value
// outside it (on start and on every reload, from the command line or the
// config file alike), and -h states it, so the two cannot disagree.
type bound struct {
	flag     string
	get      func(*serveConfig) any // the flag's field: a time.Duration, int or uint
	min, max limit                  // max.of nil: no upper end
	zero     string                 // what 0 means, when 0 is allowed below min
	step     int64                  // when set, the value must be a multiple of it
}

// serveBounds is every numeric flag of serve with what it allows; the
// flags' defaults stay where the flags are defined. TestEveryNumericFlagBounded
// fails for a numeric flag missing here. A flag comes before those whose
// range follows it.
var serveBounds = []bound{
	// Under 1 ms the ticker only burns CPU; over 1 s players get their
	// media in bursts further apart than a GOP (-flush gop is for that).
	{flag: "flush-interval", get: func(c *serveConfig) any { return c.flushInterval }, min: fixed(time.Millisecond), max: fixed(time.Second)},
	// Every peer starts at 128-byte chunks; a message is at most 2^24 bytes.
	{flag: "chunk-size", get: func(c *serveConfig) any { return c.chunkSize }, min: fixed(rtmp.DefaultChunkSize), max: fixed(1 << 24)},
	{flag: "lag-window", get: func(c *serveConfig) any { return c.lagWindow }, min: fixed(fanout.MinLagWindow)},
	// The hub would raise a smaller cache to this without a word.
	{flag: "max-cache", get: func(c *serveConfig) any { return c.maxCache },
		min: limit{of: func(c *serveConfig) int64 { return int64(fanout.MinMaxCache(c.lagWindow)) },
			text: fmt.Sprintf("twice -lag-window plus %d KiB", fanout.MinMaxCache(0)>>10), dep: "lag-window"}},
	{flag: "slow-timeout", get: func(c *serveConfig) any { return c.slowTimeout }, min: positive},
	{flag: "publish-grace", get: func(c *serveConfig) any { return c.publishGrace }, min: positive},
	{flag: "play-wait", get: func(c *serveConfig) any { return c.playWait }, min: positive},
	{flag: "publisher-timeout", get: func(c *serveConfig) any { return c.publisherTimeout }, min: positive},
	// An io_uring worker holds about 4.5 MiB of buffer rings: 1024 of
	// them is already more than any machine this runs on has use for.
	{flag: "workers", get: func(c *serveConfig) any { return c.workers }, zero: "one per CPU", min: positive, max: fixed(1024)},
	{flag: "uring-registered", get: func(c *serveConfig) any { return c.uringRegistered },
		min: fixed(fanout.RegisteredBlock), max: fixed(fanout.MaxRegisteredBytes), step: fanout.RegisteredBlock},
	{flag: "handshake-timeout", get: func(c *serveConfig) any { return c.handshakeTimeout }, min: positive},
	{flag: "idle-timeout", get: func(c *serveConfig) any { return c.idleTimeout }, min: positive},
	// connect and onMetaData alone run to hundreds of bytes; 2^24 admits
	// every message the 24-bit length field can announce.
	{flag: "max-message-size", get: func(c *serveConfig) any { return c.maxMessageSize }, min: fixed(4096), max: fixed(1 << 24)},
	{flag: "max-chunk-size", get: func(c *serveConfig) any { return c.maxChunkSize }, min: fixed(rtmp.DefaultChunkSize), max: fixed(1 << 24)},
	// A line per stream more often than once a second floods the log.
	{flag: "stats-interval", get: func(c *serveConfig) any { return c.statsInterval }, zero: "off", min: fixed(time.Second)},
	{flag: "http-header-timeout", get: func(c *serveConfig) any { return c.headerTimeout }, min: positive},
	{flag: "ws-ping-interval", get: func(c *serveConfig) any { return c.media.pingInterval }, min: positive},
	{flag: "ws-pong-timeout", get: func(c *serveConfig) any { return c.media.pongTimeout }, min: positive},
	{flag: "hls-segment-target", get: func(c *serveConfig) any { return c.hls.segmentTarget }, min: fixed(hls.MinPartTarget)},
	{flag: "hls-part", get: func(c *serveConfig) any { return c.hls.part }, min: fixed(hls.MinPartTarget),
		max: limit{of: func(c *serveConfig) int64 { return int64(c.hls.segmentTarget) }, text: "-hls-segment-target", dep: "hls-segment-target"}},
	// RFC 8216 6.2.2: a live playlist lasts at least three target durations.
	{flag: "hls-window", get: func(c *serveConfig) any { return c.hls.window }, min: fixed(3)},
	// A plain HLS player asks for the playlist about once a segment: an
	// idle time shorter than two of them would end a remuxer or a viewer
	// between its requests.
	{flag: "hls-idle", get: func(c *serveConfig) any { return c.hls.idle }, min: twiceSegmentTarget},
	{flag: "hls-session-idle", get: func(c *serveConfig) any { return c.hls.sessionIdle }, min: twiceSegmentTarget},
	{flag: "hook-timeout", get: func(c *serveConfig) any { return c.access.hookTimeout }, min: positive},
	{flag: "hook-concurrency", get: func(c *serveConfig) any { return c.access.hookConcurrency }, min: positive},
	{flag: "max-connections", get: func(c *serveConfig) any { return c.access.maxConnections }, zero: "no limit", min: positive},
	{flag: "max-players", get: func(c *serveConfig) any { return c.access.maxPlayers }, zero: "no limit", min: positive},
	{flag: "max-streams", get: func(c *serveConfig) any { return c.access.maxStream }, zero: "no limit", min: positive},
	{flag: "origin-refresh", get: func(c *serveConfig) any { return c.relay.originRefresh }, min: positive},
	{flag: "edge-linger", get: func(c *serveConfig) any { return c.relay.edgeLinger }, min: positive},
	{flag: "origin-timeout", get: func(c *serveConfig) any { return c.relay.originTimeout }, min: positive},
	{flag: "forward-timeout", get: func(c *serveConfig) any { return c.relay.fwdTimeout }, min: positive},
}

var twiceSegmentTarget = limit{of: func(c *serveConfig) int64 { return 2 * int64(c.hls.segmentTarget) },
	text: "twice -hls-segment-target", dep: "hls-segment-target"}

// number is a flag field's value as an int64 (saturated) and as the flag
// prints it.
func number(v any) (int64, string) {
	switch x := v.(type) {
	case time.Duration:
		return int64(x), x.String()
	case int:
		return int64(x), strconv.Itoa(x)
	case uint:
		return int64(min(uint64(x), math.MaxInt64)), strconv.FormatUint(uint64(x), 10)
	}
	panic(fmt.Sprintf("a bound on a %T flag", v))
}

// format prints n as a value of like's type.
func format(n int64, like any) string {
	if _, ok := like.(time.Duration); ok {
		return time.Duration(n).String()
	}
	return strconv.FormatInt(n, 10)
}

// check refuses c's value of b's flag when b does not allow it.
func (b *bound) check(c *serveConfig) error {
	field := b.get(c)
	v, shown := number(field)
	if v == 0 && b.zero != "" {
		return nil
	}
	ok := v >= b.min.of(c) && (b.max.of == nil || v <= b.max.of(c)) && (b.step == 0 || v%b.step == 0)
	if ok {
		return nil
	}
	return &settingError{flag: b.flag, value: shown, want: "must be " + b.allowed(c, field)}
}

// allowed says what b admits, given the values of the flags its ends
// follow: "between 20ms and 2s (-hls-segment-target)".
func (b *bound) allowed(c *serveConfig, like any) string {
	end := func(l limit) string {
		s := format(l.of(c), like)
		if l.text != "" {
			s += " (" + l.text + ")"
		}
		return s
	}
	s := ""
	if b.zero != "" {
		s = "0 (" + b.zero + ") or "
	}
	switch {
	case b.max.of != nil:
		s += "between " + end(b.min) + " and " + end(b.max)
	case b.min.text == "" && b.min.of(c) == 1:
		s += "positive"
	default:
		s += "at least " + end(b.min)
	}
	if b.step != 0 {
		s += ", a multiple of " + format(b.step, like)
	}
	return s
}

// help is what -h adds to the flag's text: what 0 means and the range,
// when they say more than "positive"; "" when they do not.
func (b *bound) help() string {
	like := b.get(&serveConfig{})
	end := func(l limit) string {
		if l.text != "" {
			return l.text
		}
		return format(l.of(nil), like)
	}
	var r string
	switch {
	case b.max.of != nil:
		r = end(b.min) + " to " + end(b.max)
	case b.min.text != "" || b.min.of(nil) > 1:
		r = "at least " + end(b.min)
	}
	if b.step != 0 {
		r += ", in multiples of " + format(b.step, like)
	}
	switch {
	case b.zero == "":
		return r
	case r == "":
		return "0: " + b.zero
	}
	return "0: " + b.zero + ", else " + r
}

// describeAllowed adds each bounded flag's range and each word flag's
// words (flag_words.go) to its -h text.
func describeAllowed(fs *flag.FlagSet) {
	add := func(name, help string) {
		f := fs.Lookup(name)
		if f == nil {
			panic("a range or words for the unknown flag -" + name)
		}
		if help != "" {
			f.Usage += "; " + help
		}
	}
	for i := range serveBounds {
		add(serveBounds[i].flag, serveBounds[i].help())
	}
	for i := range serveChoices {
		add(serveChoices[i].flag, serveChoices[i].help())
	}
}

// validate refuses settings that parse but make no sense, each error a
// *settingError naming the flag and its value where one flag is at fault:
// a word no word flag takes (flag_words.go), a number out of its flag's
// range. A range that follows a refused flag is not checked: its error
// would only repeat that flag's.
func (c *serveConfig) validate() error {
	var errs []error
	for i := range serveChoices {
		if err := serveChoices[i].check(c); err != nil {
			errs = append(errs, err)
		}
	}
	refused := map[string]bool{}
	for i := range serveBounds {
		b := &serveBounds[i]
		if refused[b.min.dep] || refused[b.max.dep] {
			continue
		}
		if err := b.check(c); err != nil {
			errs = append(errs, err)
			refused[b.flag] = true
		}
	}
	if err := c.tls.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// settingErrors are the errors validate joined.
func settingErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// readableDurations makes slog's JSON handler print durations as "1.5s"
// rather than as a count of nanoseconds (the text handler already does).
func readableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}
