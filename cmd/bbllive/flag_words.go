package main

import (
	"strconv"
	"strings"

	"github.com/bbllive/bbllive/fanout/hls"
)

// word is one value a word flag takes and, when -h should say, what it
// means.
type word struct{ name, means string }

// choice is a flag of serve that takes one of a fixed set of words:
// validate refuses any other (on start and on every reload, from the
// command line or the config file alike, so that a reload refuses it
// before it looks at what needs a restart), and -h lists the same words,
// so the two cannot disagree.
type choice struct {
	flag  string
	get   func(*serveConfig) string
	words []word
}

// serveChoices is every word flag of serve with the words it takes, in
// the order -h and an error list them; the defaults stay where the flags
// are defined. TestEveryStringFlagClassified fails for a string flag that
// is neither here nor known to take free text. Every word here is taken
// by the code that reads the flag (TestChoicesAreWhatTheirReadersTake);
// the few more spellings that code takes (fanout's zc, send-zc and
// write-fixed for -uring-send and "" for -flush, slog's capitals and
// offsets such as WARN+2 for -log-level) are refused, so that what -h
// lists is all there is.
var serveChoices = []choice{
	{flag: "flush", get: func(c *serveConfig) string { return c.flush },
		words: []word{{"message", "lowest latency"}, {"interval", "every -flush-interval"}, {"gop", "like the original bbllive"}}},
	{flag: "io", get: func(c *serveConfig) string { return c.io },
		words: []word{{"auto", "uring where the kernel allows it, else netpoll with a log line saying why"}, {"uring", ""}, {"netpoll", ""}}},
	{flag: "uring-send", get: func(c *serveConfig) string { return c.uringSend },
		words: []word{{"writev", ""}, {"write_fixed", "registered buffers"}, {"send_zc", "registered buffers, zero-copy"}}},
	{flag: "log-level", get: func(c *serveConfig) string { return c.logLevel },
		words: []word{{"debug", ""}, {"info", ""}, {"warn", ""}, {"error", ""}}},
	{flag: "log-format", get: func(c *serveConfig) string { return c.logFormat },
		words: []word{{"text", ""}, {"json", ""}}},
	{flag: "hls-segment", get: func(c *serveConfig) string { return c.hls.segment },
		words: []word{{hls.FormatFMP4, "CMAF"}, {hls.FormatTS, "MPEG-TS, H.264 + AAC, for old players"}}},
}

// check refuses c's value of ch's flag when it is none of ch's words.
func (ch *choice) check(c *serveConfig) error {
	v := ch.get(c)
	for _, w := range ch.words {
		if v == w.name {
			return nil
		}
	}
	return &settingError{flag: ch.flag, value: shownWord(v), want: "want one of " + ch.names()}
}

// names is ch's words, comma-separated: "auto, uring, netpoll".
func (ch *choice) names() string {
	names := make([]string, len(ch.words))
	for i, w := range ch.words {
		names[i] = w.name
	}
	return strings.Join(names, ", ")
}

// help is what -h adds to the flag's text: "one of auto (…), uring,
// netpoll".
func (ch *choice) help() string {
	parts := make([]string, len(ch.words))
	for i, w := range ch.words {
		parts[i] = w.name
		if w.means != "" {
			parts[i] += " (" + w.means + ")"
		}
	}
	return "one of " + strings.Join(parts, ", ")
}

// shownWord is a value as an error shows it: quoted when it is empty or
// holds a space, a quote or a control character, which would otherwise
// not be seen for what they are.
func shownWord(v string) string {
	if v == "" || strings.Contains(v, " ") || strconv.Quote(v) != `"`+v+`"` {
		return strconv.Quote(v)
	}
	return v
}
