package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/hls"
)

// refusedFlags is every refused value the flag tests try: args, then the
// flag and value the message must name ("-flag value:"), then what it must
// say is allowed. TestEveryBoundHasRefusedRows checks that every bounded
// flag has a row.
var refusedFlags = []struct {
	args        []string
	flag, value string
	allowed     string
}{
	{[]string{"-flush-interval", "0s"}, "flush-interval", "0s", "must be between 1ms and 1s"},
	{[]string{"-flush-interval", "2s"}, "flush-interval", "2s", "must be between 1ms and 1s"},
	{[]string{"-chunk-size", "127"}, "chunk-size", "127", "must be between 128 and 16777216"},
	{[]string{"-chunk-size", "16777217"}, "chunk-size", "16777217", "must be between 128 and 16777216"},
	{[]string{"-lag-window", "0"}, "lag-window", "0", "must be at least 65536"},
	{[]string{"-lag-window", "-5"}, "lag-window", "-5", "must be at least 65536"},
	{[]string{"-max-cache", "0"}, "max-cache", "0", "must be at least 2228224 (twice -lag-window plus 128 KiB)"},
	{[]string{"-lag-window", "65536", "-max-cache", "262143"}, "max-cache", "262143", "must be at least 262144 (twice -lag-window"},
	{[]string{"-slow-timeout", "0s"}, "slow-timeout", "0s", "must be positive"},
	{[]string{"-publish-grace", "-1s"}, "publish-grace", "-1s", "must be positive"},
	{[]string{"-play-wait", "0s"}, "play-wait", "0s", "must be positive"},
	{[]string{"-publisher-timeout", "0s"}, "publisher-timeout", "0s", "must be positive"},
	{[]string{"-workers", "-3"}, "workers", "-3", "must be 0 (one per CPU) or between 1 and 1024"},
	{[]string{"-workers", "1025"}, "workers", "1025", "must be 0 (one per CPU) or between 1 and 1024"},
	{[]string{"-uring-registered", "-1"}, "uring-registered", "-1", "must be between 65536 and 1073741824, a multiple of 65536"},
	{[]string{"-uring-registered", "0"}, "uring-registered", "0", "must be between 65536"},
	{[]string{"-uring-registered", "100000"}, "uring-registered", "100000", "must be between 65536 and 1073741824, a multiple of 65536"},
	{[]string{"-uring-registered", "2147483648"}, "uring-registered", "2147483648", "must be between 65536 and 1073741824"},
	{[]string{"-handshake-timeout", "0s"}, "handshake-timeout", "0s", "must be positive"},
	{[]string{"-idle-timeout", "-1s"}, "idle-timeout", "-1s", "must be positive"},
	{[]string{"-max-message-size", "0"}, "max-message-size", "0", "must be between 4096 and 16777216"},
	{[]string{"-max-message-size", "16777217"}, "max-message-size", "16777217", "must be between 4096 and 16777216"},
	// Past uint32 the old code wrapped the limit around to a small number.
	{[]string{"-max-message-size", "18446744073709551615"}, "max-message-size", "18446744073709551615", "must be between 4096 and 16777216"},
	{[]string{"-max-chunk-size", "0"}, "max-chunk-size", "0", "must be between 128 and 16777216"},
	{[]string{"-max-chunk-size", "4294967296"}, "max-chunk-size", "4294967296", "must be between 128 and 16777216"},
	{[]string{"-stats-interval", "-1s"}, "stats-interval", "-1s", "must be 0 (off) or at least 1s"},
	{[]string{"-stats-interval", "10ms"}, "stats-interval", "10ms", "must be 0 (off) or at least 1s"},
	{[]string{"-http-header-timeout", "0s"}, "http-header-timeout", "0s", "must be positive"},
	{[]string{"-ws-ping-interval", "0s"}, "ws-ping-interval", "0s", "must be positive"},
	{[]string{"-ws-pong-timeout", "-1s"}, "ws-pong-timeout", "-1s", "must be positive"},
	{[]string{"-hls-part", "0"}, "hls-part", "0s", "must be between 20ms and 2s (-hls-segment-target)"},
	{[]string{"-hls-part", "10ms"}, "hls-part", "10ms", "must be between 20ms and 2s (-hls-segment-target)"},
	{[]string{"-hls-part", "3s"}, "hls-part", "3s", "must be between 20ms and 2s (-hls-segment-target)"},
	{[]string{"-hls-segment-target", "1s", "-hls-part", "1500ms"}, "hls-part", "1.5s", "must be between 20ms and 1s (-hls-segment-target)"},
	{[]string{"-hls-segment-target", "0s", "-hls-part", "20ms"}, "hls-segment-target", "0s", "must be at least 20ms"},
	{[]string{"-hls-window", "0"}, "hls-window", "0", "must be at least 3"},
	{[]string{"-hls-window", "2"}, "hls-window", "2", "must be at least 3"},
	{[]string{"-hls-idle", "0"}, "hls-idle", "0s", "must be at least 4s (twice -hls-segment-target)"},
	{[]string{"-hls-segment-target", "5s", "-hls-idle", "9s"}, "hls-idle", "9s", "must be at least 10s (twice -hls-segment-target)"},
	{[]string{"-hls-session-idle", "0"}, "hls-session-idle", "0s", "must be at least 4s (twice -hls-segment-target)"},
	{[]string{"-hook-timeout", "0"}, "hook-timeout", "0s", "must be positive"},
	{[]string{"-hook-concurrency", "0"}, "hook-concurrency", "0", "must be positive"},
	{[]string{"-hook-concurrency", "-1"}, "hook-concurrency", "-1", "must be positive"},
	{[]string{"-max-connections", "-1"}, "max-connections", "-1", "must be 0 (no limit) or positive"},
	{[]string{"-max-players", "-1"}, "max-players", "-1", "must be 0 (no limit) or positive"},
	{[]string{"-max-streams", "-2"}, "max-streams", "-2", "must be 0 (no limit) or positive"},
	{[]string{"-origin-refresh", "-1s"}, "origin-refresh", "-1s", "must be positive"},
	{[]string{"-edge-linger", "0s"}, "edge-linger", "0s", "must be positive"},
	{[]string{"-origin-timeout", "0s"}, "origin-timeout", "0s", "must be positive"},
	{[]string{"-forward-timeout", "-2s"}, "forward-timeout", "-2s", "must be positive"},
	// Word flags (serveChoices): TestEveryStringFlagClassified checks
	// that each has a row.
	{[]string{"-flush", "fast"}, "flush", "fast", "want one of message, interval, gop"},
	{[]string{"-flush", ""}, "flush", `""`, "want one of message, interval, gop"},
	{[]string{"-io", "foo"}, "io", "foo", "want one of auto, uring, netpoll"},
	{[]string{"-io", "URING"}, "io", "URING", "want one of auto, uring, netpoll"},
	{[]string{"-io", "net poll"}, "io", `"net poll"`, "want one of auto, uring, netpoll"},
	{[]string{"-uring-send", "zc"}, "uring-send", "zc", "want one of writev, write_fixed, send_zc"},
	// Checked even where io_uring is not used, as a range is.
	{[]string{"-io", "netpoll", "-uring-send", "sendmsg"}, "uring-send", "sendmsg", "want one of writev, write_fixed, send_zc"},
	{[]string{"-log-level", "verbose"}, "log-level", "verbose", "want one of debug, info, warn, error"},
	{[]string{"-log-level", "INFO"}, "log-level", "INFO", "want one of debug, info, warn, error"},
	{[]string{"-log-format", "xml"}, "log-format", "xml", "want one of text, json"},
	{[]string{"-hls-segment", "mp4"}, "hls-segment", "mp4", "want one of fmp4, ts"},
	{[]string{"-hls=false", "-hls-segment", "TS"}, "hls-segment", "TS", "want one of fmp4, ts"},
}

// serveArgsOutcome is what runServe does with args before it would start
// the server: the exit code and what it printed (exit -1: it would serve).
func serveArgsOutcome(args []string) (code int, printed string, c *serveConfig) {
	c, err := parseServeArgs(args)
	if err != nil {
		var out bytes.Buffer
		return serveArgsFailed(&out, err), out.String(), nil
	}
	return -1, "", c
}

// TestServeFlagErrors: a value a flag does not allow is refused at start
// with exit code 2 and one line naming the flag, the value and what is
// allowed.
func TestServeFlagErrors(t *testing.T) {
	for _, tc := range refusedFlags {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, printed, _ := serveArgsOutcome(tc.args)
			want := "bbllive: -" + tc.flag + " " + tc.value + ": " + tc.allowed
			if code != 2 || !strings.Contains(printed, want) {
				t.Fatalf("exit %d, printed %q; want exit 2 and %q", code, printed, want)
			}
			if n := strings.Count(printed, "\n"); n != 1 {
				t.Errorf("printed %d lines, want the one error: %q", n, printed)
			}
		})
	}
}

// TestServeFlagErrorsTLS: the TLS flags' pairing is refused as before.
func TestServeFlagErrorsTLS(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-listen-tls", "127.0.0.1:0", "-tls-cert", "c.pem"}, "-listen-tls 127.0.0.1:0 needs -tls-cert and -tls-key"},
		{[]string{"-tls-key", "k.pem"}, "-tls-cert and -tls-key need -listen-tls"},
	} {
		if code, printed, _ := serveArgsOutcome(tc.args); code != 2 || !strings.Contains(printed, tc.want) {
			t.Errorf("%v: exit %d, printed %q; want 2 and %q", tc.args, code, printed, tc.want)
		}
	}
}

// TestServeFlagAccepted: the ends of each range, and 0 where it means
// something, pass validation and reach the settings unchanged.
func TestServeFlagAccepted(t *testing.T) {
	for _, tc := range []struct {
		args []string
		got  func(*serveConfig) any
		want any
	}{
		{[]string{"-workers", "0"}, func(c *serveConfig) any { return c.workers }, 0},
		{[]string{"-workers", "1024"}, func(c *serveConfig) any { return c.workers }, 1024},
		{[]string{"-stats-interval", "0"}, func(c *serveConfig) any { return c.statsInterval }, time.Duration(0)},
		{[]string{"-stats-interval", "1s"}, func(c *serveConfig) any { return c.statsInterval }, time.Second},
		{[]string{"-max-connections", "0"}, func(c *serveConfig) any { return c.access.maxConnections }, 0},
		{[]string{"-max-players", "0"}, func(c *serveConfig) any { return c.access.maxPlayers }, 0},
		{[]string{"-max-streams", "0"}, func(c *serveConfig) any { return c.access.maxStream }, 0},
		{[]string{"-hls-part", "20ms"}, func(c *serveConfig) any { return c.hls.part }, 20 * time.Millisecond},
		{[]string{"-hls-part", "2s"}, func(c *serveConfig) any { return c.hls.part }, 2 * time.Second},
		{[]string{"-hls-window", "3"}, func(c *serveConfig) any { return c.hls.window }, 3},
		{[]string{"-hls-idle", "4s"}, func(c *serveConfig) any { return c.hls.idle }, 4 * time.Second},
		{[]string{"-chunk-size", "128"}, func(c *serveConfig) any { return c.chunkSize }, uint(128)},
		{[]string{"-max-message-size", "16777216"}, func(c *serveConfig) any { return c.maxMessageSize }, uint(1 << 24)},
		{[]string{"-uring-registered", "65536"}, func(c *serveConfig) any { return c.uringRegistered }, 65536},
		{[]string{"-uring-registered", "1073741824"}, func(c *serveConfig) any { return c.uringRegistered }, 1 << 30},
		{[]string{"-lag-window", "65536", "-max-cache", "262144"}, func(c *serveConfig) any { return c.maxCache }, 262144},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, printed, c := serveArgsOutcome(tc.args)
			if code != -1 {
				t.Fatalf("refused: exit %d, %q", code, printed)
			}
			if got := tc.got(c); got != tc.want {
				t.Fatalf("setting %v (%T), want %v (%T)", got, got, tc.want, tc.want)
			}
		})
	}
	if code, printed, _ := serveArgsOutcome(nil); code != -1 {
		t.Errorf("the defaults are refused: %q", printed)
	}
}

// TestEveryNumericFlagBounded: every numeric flag of serve has a bound, so
// a new flag cannot take 0 or a negative unexamined; every bound has
// refused rows above.
func TestEveryNumericFlagBounded(t *testing.T) {
	bounded := map[string]bool{}
	for _, b := range serveBounds {
		bounded[b.flag] = true
	}
	serveFlags(&serveConfig{}).VisitAll(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok {
			if _, custom := f.Value.(*forwardFlag); !custom {
				t.Errorf("-%s: a flag value that is no flag.Getter; the test cannot tell whether it is numeric", f.Name)
			}
			return
		}
		switch g.Get().(type) {
		case int, uint, int64, uint64, float64, time.Duration:
			if !bounded[f.Name] {
				t.Errorf("-%s is numeric and has no bound in serveBounds", f.Name)
			}
		}
	})
	rows := map[string]bool{}
	for _, r := range refusedFlags {
		rows[r.flag] = true
	}
	for _, b := range serveBounds {
		if !rows[b.flag] {
			t.Errorf("-%s has a bound but no row in refusedFlags", b.flag)
		}
	}
}

// TestServeUsageErrors: what the flag package cannot read is printed once,
// with the usage line and where the flags are listed, as Go's tools do;
// -h lists every flag with its type and range and exits 0.
func TestServeUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-workers", "x"}, `invalid value "x" for flag -workers`},
		{[]string{"-hls-part", "5"}, `invalid value "5" for flag -hls-part: want a duration such as 200ms`},
		{[]string{"-no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"-hls", "stray"}, `unexpected argument "stray"`},
	} {
		code, printed, _ := serveArgsOutcome(tc.args)
		if code != 2 || strings.Count(printed, tc.want) != 1 || !strings.Contains(printed, "Run 'bbllive serve -h' for the flags.") {
			t.Errorf("%v: exit %d, printed %q; want 2, %q once and the hint", tc.args, code, printed, tc.want)
		}
		if strings.Contains(printed, "-ws-pong-timeout") {
			t.Errorf("%v: the whole flag list is printed: %q", tc.args, printed)
		}
	}
	code, printed, _ := serveArgsOutcome([]string{"-h"})
	for _, want := range []string{"-hls-part duration", "20ms to -hls-segment-target (default 200ms)",
		"-workers int", "0: one per CPU, else 1 to 1024", "-max-players int", "0: no limit", "-stats-interval duration", "0: off"} {
		if !strings.Contains(printed, want) {
			t.Errorf("-h lacks %q", want)
		}
	}
	if code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}

// TestServeFlagErrorsFromBinary: the built command prints a bad flag's
// error once (it used to print it twice around the whole flag list) and
// exits 2, as it does for a bad value in the config file.
func TestServeFlagErrorsFromBinary(t *testing.T) {
	bin := buildBinary(t)
	cfg := writeConfig(t, "workers: 2\nhls-window: 0\n")
	words := writeConfig(t, "log-level: warn\nlog-format: xml\n")
	for _, tc := range []struct {
		args []string
		want string
		hint bool
	}{
		{[]string{"serve", "-workers", "x"}, `invalid value "x" for flag -workers`, true},
		{[]string{"-nope"}, "flag provided but not defined: -nope", true},
		{[]string{"serve", "-hls-part", "0"}, "-hls-part 0s: must be between 20ms and 2s", false},
		{[]string{"serve", "-config", cfg}, "config " + cfg + ": line 2: hls-window 0: must be at least 3", false},
		{[]string{"serve", "-io", "foo"}, "-io foo: want one of auto, uring, netpoll", false},
		{[]string{"serve", "-config", words}, "config " + words + ": line 2: log-format xml: want one of text, json", false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, tc.args...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit status 2; stderr %q", tc.args, err, stderr.String())
			continue
		}
		out := stderr.String()
		if strings.Count(out, tc.want) != 1 || strings.Contains(out, "Run 'bbllive serve -h'") != tc.hint {
			t.Errorf("%v: stderr %q, want %q once (hint: %v)", tc.args, out, tc.want, tc.hint)
		}
	}
}

// TestJSONLogDurations: JSON logs carry durations as "1.5s", not as
// nanoseconds.
func TestJSONLogDurations(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(&buf), &slog.HandlerOptions{ReplaceAttr: readableDurations}))
	log.Info("x", "grace", 1500*time.Millisecond, "n", 3)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["grace"] != "1.5s" || rec["n"] != 3.0 {
		t.Errorf("logged grace=%v n=%v, want \"1.5s\" and 3", rec["grace"], rec["n"])
	}
}

// freeTextFlags are the string flags of serve that take free text (an
// address, a path, a secret, a list) rather than one of a few words.
var freeTextFlags = map[string]bool{
	"listen": true, "http": true, "config": true, "http-play": true, "http-play-origin": true,
	"auth-secret": true, "auth-jwks": true, "hook-url": true, "api-token": true, "api": true,
	"publish-allow": true, "publish-deny": true, "play-allow": true, "play-deny": true,
	"origin": true, "relay-ca": true, "listen-tls": true, "tls-cert": true, "tls-key": true,
}

// TestEveryStringFlagClassified: every string flag of serve either takes
// free text or is a word flag in serveChoices, so a new word flag cannot
// go unchecked; every word flag has refused rows in refusedFlags.
func TestEveryStringFlagClassified(t *testing.T) {
	words := map[string]bool{}
	for _, ch := range serveChoices {
		words[ch.flag] = true
	}
	serveFlags(&serveConfig{}).VisitAll(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok {
			return // TestEveryNumericFlagBounded names these
		}
		if _, isString := g.Get().(string); !isString {
			return
		}
		switch {
		case words[f.Name] && freeTextFlags[f.Name]:
			t.Errorf("-%s is both a word flag and free text", f.Name)
		case !words[f.Name] && !freeTextFlags[f.Name]:
			t.Errorf("-%s is a string flag in neither serveChoices nor freeTextFlags", f.Name)
		}
	})
	rows := map[string]bool{}
	for _, r := range refusedFlags {
		rows[r.flag] = true
	}
	for _, ch := range serveChoices {
		if !rows[ch.flag] {
			t.Errorf("-%s has words but no row in refusedFlags", ch.flag)
		}
	}
}

// TestChoicesAreWhatTheirReadersTake: every word -h offers is taken by
// the code that reads the flag at start, so validate never passes a word
// the server would then fail on.
func TestChoicesAreWhatTheirReadersTake(t *testing.T) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	readers := map[string]func(string) error{
		"flush": func(w string) error { _, err := fanout.ParseFlushPolicy(w); return err },
		"uring-send": func(w string) error {
			_, err := fanout.ParseSendMode(w)
			return err
		},
		"log-level":   func(w string) error { return setLogLevel(new(slog.LevelVar), w) },
		"log-format":  func(w string) error { _, _, err := newLogger("info", w); return err },
		"hls-segment": func(w string) error { return hls.Config{Format: w}.Validate() },
		// The transport itself: io_uring must open here (this machine
		// runs as root), netpoll always does.
		"io": func(w string) error {
			c := &serveConfig{io: w, uringSend: "writev", uringRegistered: fanout.RegisteredBlock, workers: 1, idleTimeout: time.Second}
			tr, err := newTransport(c, fanout.Config{Workers: 1}, discard)
			if err != nil {
				return err
			}
			return tr.Close()
		},
	}
	for _, ch := range serveChoices {
		read, ok := readers[ch.flag]
		if !ok {
			t.Errorf("-%s: no reader in this test", ch.flag)
			continue
		}
		for _, w := range ch.words {
			if err := read(w.name); err != nil {
				t.Errorf("-%s %s: offered by -h, refused by its reader: %v", ch.flag, w.name, err)
			}
		}
	}
}

// helpBlocks splits serve's -h into each flag's lines, by flag name.
func helpBlocks(t *testing.T, printed string) map[string]string {
	t.Helper()
	blocks := map[string]string{}
	name := ""
	for _, line := range strings.Split(printed, "\n") {
		switch {
		case strings.HasPrefix(line, "  -"):
			name, _, _ = strings.Cut(line[3:], " ")
			if _, twice := blocks[name]; twice {
				t.Errorf("-%s listed twice", name)
			}
			blocks[name] = line
		case strings.HasPrefix(line, "    \t") && name != "":
			blocks[name] += "\n" + line
		}
	}
	return blocks
}

// TestServeHelpStatesEveryRange: serve -h is the flag package's listing
// (type, usage, quoted string defaults, no zero defaults) with each
// flag's range or words from the tables that validate checks, so the two
// cannot disagree; a range -h leaves out is "positive", which its header
// says.
func TestServeHelpStatesEveryRange(t *testing.T) {
	code, printed, _ := serveArgsOutcome([]string{"-h"})
	if code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
	if !strings.Contains(printed, "a duration or count must be positive unless its text says more") {
		t.Errorf("-h's header does not say what a range left out is: %q", printed[:min(len(printed), 200)])
	}
	blocks := helpBlocks(t, printed)
	serveFlags(&serveConfig{}).VisitAll(func(f *flag.Flag) {
		if _, ok := blocks[f.Name]; !ok {
			t.Errorf("-%s is not in -h", f.Name)
		}
	})
	for i := range serveBounds {
		b := &serveBounds[i]
		h := b.help()
		if h == "" {
			if got := b.allowed(&serveConfig{}, b.get(&serveConfig{})); got != "positive" {
				t.Errorf("-%s: -h states no range, yet validate allows only %q", b.flag, got)
			}
			continue
		}
		if !strings.Contains(blocks[b.flag], "; "+h) {
			t.Errorf("-%s: -h %q lacks its range %q", b.flag, blocks[b.flag], h)
		}
	}
	for _, ch := range serveChoices {
		block := blocks[ch.flag]
		_, listed, ok := strings.Cut(block, "; one of ")
		if !ok {
			t.Errorf("-%s: -h %q does not list its words", ch.flag, block)
			continue
		}
		for _, w := range ch.words {
			i := strings.Index(listed, w.name)
			if i < 0 {
				t.Errorf("-%s: -h %q lacks %q", ch.flag, block, w.name)
				continue
			}
			listed = listed[i+len(w.name):] // in the table's order
		}
	}
	// The flag package's formatting, whole: type names (its own for our
	// durations), quoted string defaults, none for bools' or zero ones.
	for name, want := range map[string]string{
		"io":               "  -io string\n    \tplayer and publisher I/O; one of auto (uring where the kernel allows it, else netpoll with a log line saying why), uring, netpoll (default \"auto\")",
		"hls-segment":      "  -hls-segment string\n    \tHLS segment format; one of fmp4 (CMAF), ts (MPEG-TS, H.264 + AAC, for old players) (default \"fmp4\")",
		"hls-part":         "  -hls-part duration\n    \tLL-HLS part duration (PART-TARGET); 20ms to -hls-segment-target (default 200ms)",
		"workers":          "  -workers int\n    \tsender workers (netpoll) or rings (io_uring); 0: one per CPU, else 1 to 1024",
		"publish-takeover": "  -publish-takeover\n    \ta new publisher",
		"bpf":              "  -bpf\n    \tcount each socket's bytes",
		"forward":          "  -forward RULE\n    \tpush published streams to targets; a RULE is",
	} {
		if got := blocks[name]; !strings.HasPrefix(got, want) {
			t.Errorf("-h of -%s:\n%s\nwant it to start with\n%s", name, got, want)
		}
	}
	if !strings.HasSuffix(blocks["bpf"], "(default true)") || strings.Contains(blocks["publish-takeover"], "(default") {
		t.Errorf("-h's bool defaults: %q, %q", blocks["bpf"], blocks["publish-takeover"])
	}
}
