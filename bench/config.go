package bench

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ServerConfig is one server configuration the harness measures: a name
// for the table and the flags given to `bbllive serve`.
type ServerConfig struct {
	Name  string   `json:"name"`
	Flags []string `json:"flags"`
}

// Presets are the built-in configurations: each transport at the flush
// settings DESIGN.md measured the kernel's floor at (per message, 40 ms,
// 100 ms, 350 ms). A new transport or policy is one line each.
var Presets = []ServerConfig{
	{"netpoll-msg", []string{"-io", "netpoll", "-flush", "message"}},
	{"netpoll-40ms", []string{"-io", "netpoll", "-flush", "interval", "-flush-interval", "40ms"}},
	{"netpoll-100ms", []string{"-io", "netpoll", "-flush", "interval", "-flush-interval", "100ms"}},
	{"netpoll-350ms", []string{"-io", "netpoll", "-flush", "interval", "-flush-interval", "350ms"}},
	{"uring-msg", []string{"-io", "uring", "-flush", "message"}},
	{"uring-40ms", []string{"-io", "uring", "-flush", "interval", "-flush-interval", "40ms"}},
	{"uring-100ms", []string{"-io", "uring", "-flush", "interval", "-flush-interval", "100ms"}},
	{"uring-350ms", []string{"-io", "uring", "-flush", "interval", "-flush-interval", "350ms"}},
}

// PresetGroups name sets of presets for -preset; "all" is every preset.
var PresetGroups = map[string][]string{
	"netpoll": {"netpoll-msg", "netpoll-40ms", "netpoll-100ms", "netpoll-350ms"},
	"uring":   {"uring-msg", "uring-40ms", "uring-100ms", "uring-350ms"},
	"100ms":   {"netpoll-100ms", "uring-100ms"},
}

// LookupPreset returns the presets a name stands for: one preset, a
// group, or "all".
func LookupPreset(name string) ([]ServerConfig, error) {
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
func ParseServerConfig(s string) (ServerConfig, error) {
	name, flags, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t,") {
		return ServerConfig{}, fmt.Errorf("bench: config %q: want NAME=FLAGS with a name free of spaces and commas", s)
	}
	args, err := splitArgs(flags)
	if err != nil {
		return ServerConfig{}, fmt.Errorf("bench: config %s: %w", name, err)
	}
	return ServerConfig{Name: name, Flags: args}, nil
}

// splitArgs splits a command line on white space, honouring quotes.
func splitArgs(s string) ([]string, error) {
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
