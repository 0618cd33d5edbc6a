package bench

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ServerConfig is one server configuration the harness measures: a name
// for the table and the flags given to `bbllive serve` — or, with Floor,
// to `bbllive bench floor`, the plain write loop that is the kernel's
// floor for the same delivery.
type ServerConfig struct {
	Name  string   `json:"name"`
	Flags []string `json:"flags"`
	Floor bool     `json:"floor,omitempty"`
	// Play is how the players play: PlayRTMP (the default), PlayHTTPFLV
	// or PlayWSFLV, from the server's -http listener.
	Play string `json:"play,omitempty"`
}

// The ways players play (ServerConfig.Play).
const (
	PlayRTMP    = "rtmp"
	PlayHTTPFLV = "http-flv"
	PlayWSFLV   = "ws-flv"
)

// playURL is the players' URL pattern for a server at rtmpAddr (and
// httpAddr) with n streams.
func (sc ServerConfig) playURL(rtmpAddr, httpAddr string, n int) string {
	switch sc.Play {
	case PlayHTTPFLV:
		return fmt.Sprintf("http://%s/live/bench_{i%%%d}.flv", httpAddr, n)
	case PlayWSFLV:
		return fmt.Sprintf("ws://%s/live/bench_{i%%%d}.flv", httpAddr, n)
	}
	return fmt.Sprintf("rtmp://%s/live/bench_{i%%%d}", rtmpAddr, n)
}

// Command is the bbllive command line that starts the configuration.
func (sc ServerConfig) Command() []string {
	if sc.Floor {
		return []string{"bench", "floor"}
	}
	return []string{"serve"}
}

// flushFlags are the flush settings every transport, player format and
// the floor are measured at (per message, 40 ms, 100 ms, 350 ms), by the
// suffix of their preset.
var flushFlags = []struct {
	suffix string
	flags  []string
}{
	{"msg", []string{"-flush", "message"}},
	{"40ms", []string{"-flush", "interval", "-flush-interval", "40ms"}},
	{"100ms", []string{"-flush", "interval", "-flush-interval", "100ms"}},
	{"350ms", []string{"-flush", "interval", "-flush-interval", "350ms"}},
}

// Presets are the built-in configurations: each transport at each flush
// setting, and beside them the floor — one goroutine writing the same
// bytes to every player with plain write calls, no protocol work — at the
// same settings, so the server is compared with it in the same run.
var Presets = presets()

func presets() []ServerConfig {
	var out []ServerConfig
	for _, kind := range []string{"netpoll", "uring", "floor"} {
		for _, f := range flushFlags {
			sc := ServerConfig{Name: kind + "-" + f.suffix, Flags: slices.Clone(f.flags), Floor: kind == "floor"}
			if !sc.Floor {
				sc.Flags = append([]string{"-io", kind}, sc.Flags...)
			}
			out = append(out, sc)
		}
	}
	// The browser formats on the default transport, beside its RTMP.
	for _, play := range []struct{ prefix, play string }{{"httpflv", PlayHTTPFLV}, {"wsflv", PlayWSFLV}} {
		for _, f := range flushFlags {
			out = append(out, ServerConfig{Name: play.prefix + "-" + f.suffix, Play: play.play,
				Flags: append([]string{"-io", "uring"}, f.flags...)})
		}
	}
	return out
}

// PresetGroups name sets of presets for -preset; "all" is every preset.
var PresetGroups = map[string][]string{
	"netpoll": {"netpoll-msg", "netpoll-40ms", "netpoll-100ms", "netpoll-350ms"},
	"uring":   {"uring-msg", "uring-40ms", "uring-100ms", "uring-350ms"},
	"floor":   {"floor-msg", "floor-40ms", "floor-100ms", "floor-350ms"},
	"servers": {"netpoll-msg", "netpoll-40ms", "netpoll-100ms", "netpoll-350ms", "uring-msg", "uring-40ms", "uring-100ms", "uring-350ms"},
	"msg":     {"netpoll-msg", "uring-msg", "floor-msg"},
	"100ms":   {"netpoll-100ms", "uring-100ms", "floor-100ms"},
	// HTTP-FLV and WebSocket-FLV players beside RTMP ones, same transport,
	// at every flush setting: issue 13's bound (an HTTP-FLV player costs at
	// most 1.05× an RTMP one) is per setting. Twelve configurations, about
	// 25 s each at 1000 players and a 15 s window (10 min with -repeat 2).
	"flv": flvGroup(),
}

// flvGroup is RTMP, HTTP-FLV and WebSocket-FLV players of the io_uring
// server, side by side for each flush setting.
func flvGroup() []string {
	var names []string
	for _, f := range flushFlags {
		for _, kind := range []string{"uring", "httpflv", "wsflv"} {
			names = append(names, kind+"-"+f.suffix)
		}
	}
	return names
}

// LookupPreset returns the presets a name stands for: one preset, a
// group, "all", or several of these separated by commas
// ("uring-350ms,httpflv-350ms"), in that order.
func LookupPreset(name string) ([]ServerConfig, error) {
	if strings.Contains(name, ",") {
		var out []ServerConfig
		for _, n := range strings.Split(name, ",") {
			ps, err := LookupPreset(strings.TrimSpace(n))
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		}
		return out, nil
	}
	if name == "all" {
		return Presets, nil
	}
	names, ok := PresetGroups[name]
	if !ok {
		names = []string{name}
	}
	var out []ServerConfig
	for _, n := range names {
		found := false
		for _, p := range Presets {
			if p.Name == n {
				out, found = append(out, p), true
			}
		}
		if !found {
			return nil, fmt.Errorf("bench: no preset %q (have %s, groups %s, all)", n, presetNames(), groupNames())
		}
	}
	return out, nil
}

func presetNames() string {
	var s []string
	for _, p := range Presets {
		s = append(s, p.Name)
	}
	return strings.Join(s, ", ")
}

func groupNames() string {
	return strings.Join(slices.Sorted(maps.Keys(PresetGroups)), ", ")
}

// ParseServerConfig reads NAME=FLAGS, e.g.
// `netpoll-100ms=-flush interval -flush-interval 100ms`. FLAGS is split on
// white space; single or double quotes keep a value with spaces together.
// FLAGS starting with the word floor configure `bbllive bench floor`
// instead of the server: `floor-20ms=floor -flush interval -flush-interval 20ms`;
// starting with http-flv or ws-flv, the players play HTTP-FLV or
// WebSocket-FLV from the server's -http listener: `flv=http-flv -io uring`.
func ParseServerConfig(s string) (ServerConfig, error) {
	name, flags, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t,") {
		return ServerConfig{}, fmt.Errorf("bench: config %q: want NAME=FLAGS with a name free of spaces and commas", s)
	}
	args, err := SplitArgs(flags)
	if err != nil {
		return ServerConfig{}, fmt.Errorf("bench: config %s: %w", name, err)
	}
	sc := ServerConfig{Name: name, Flags: args}
	if len(args) > 0 {
		switch args[0] {
		case "floor":
			sc.Floor, sc.Flags = true, args[1:]
		case PlayHTTPFLV, PlayWSFLV:
			sc.Play, sc.Flags = args[0], args[1:]
		}
	}
	return sc, nil
}

// SplitArgs splits a command line on white space, honouring single and
// double quotes: "-flush interval -hls-part '200ms'".
func SplitArgs(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				args = append(args, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c", quote)
	}
	if in {
		args = append(args, cur.String())
	}
	return args, nil
}
