package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// configFlags is a flag set of the shapes a config file sets: a string,
// a duration, a bool and -forward's rules.
func configFlags() (*flag.FlagSet, *string, *time.Duration, *bool, *forwardFlag) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := fs.String("origin", "", "")
	var d time.Duration
	durationVar(fs, &d, "edge-linger", time.Second, "")
	b := fs.Bool("hls", true, "")
	var fw forwardFlag
	fs.Var(&fw, "forward", "")
	fs.String("config", "", "")
	return fs, s, &d, b, &fw
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bbllive.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFileForwardShapes(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"string", "forward: rtmp://a,rtmp://b\n", "rtmp://a,rtmp://b"},
		{"nothing", "forward:\n  # - rtmp://off\n", ""},
		{"string with pattern", "forward: live=rtmp://a/x/y?key=k\n", "live/*=rtmp://a/x/y?key=k"},
		{"list: one rule each", "forward:\n  - rtmp://all\n  - news=rtmp://n1,rtmp://n2\n", "rtmp://all news/*=rtmp://n1,rtmp://n2"},
		{"mapping of pattern to URL or URLs", "forward:\n  live: rtmp://a\n  \"sport/cup*\": [rtmp://b, \"rtmps://c/{app}/{name}?key=k\"]\n",
			"live/*=rtmp://a sport/cup*=rtmp://b,rtmps://c/{app}/{name}?key=k"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, _, _, _, fw := configFlags()
			if err := applyConfigFile(fs, writeConfig(t, tc.yaml)); err != nil {
				t.Fatal(err)
			}
			if got := fw.String(); got != tc.want {
				t.Fatalf("forward = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConfigFileScalarsAndErrors(t *testing.T) {
	fs, origin, linger, hls, _ := configFlags()
	if err := applyConfigFile(fs, writeConfig(t, "origin: rtmp://o1,rtmp://o2\nedge-linger: 3s\nhls: false\n")); err != nil {
		t.Fatal(err)
	}
	if *origin != "rtmp://o1,rtmp://o2" || *linger != 3*time.Second || *hls {
		t.Fatalf("origin %q linger %s hls %v", *origin, *linger, *hls)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"a list for a single-valued flag", "origin: [a, b]\n", "origin: line 1: want a single value, not a list"},
		{"a mapping for a single-valued flag", "edge-linger: {a: 1}\n", "edge-linger: line 1: want a single value, not a mapping"},
		{"a list inside forward's list", "forward:\n  - [rtmp://a]\n", "forward: line 2: a list item is one rule"},
		{"a mapping inside forward's mapping", "forward:\n  live: {x: rtmp://a}\n", "forward: line 2: pattern \"live\": want a URL or a list of URLs, not a mapping"},
		{"a bad pattern", "forward:\n  \"live[\": rtmp://a\n", "forward: line 2: pattern \"live[/*\": syntax error in pattern"},
		{"a bad URL in a list", "forward: [\"live=http://a\"]\n", "forward: line 1: forward target"},
		{"an unknown key", "forwards: rtmp://a\n", `unknown key "forwards"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, _, _, _, _ := configFlags()
			err := applyConfigFile(fs, writeConfig(t, tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}

// TestForwardFlagRepeatsAndCommandLineWins: -forward is repeatable; given
// on the command line, the config file's rules are not added to it.
func TestForwardFlagRepeatsAndCommandLineWins(t *testing.T) {
	fs, _, _, _, fw := configFlags()
	if err := fs.Parse([]string{"-forward", "rtmp://a", "-forward", "live=rtmp://b"}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigFile(fs, writeConfig(t, "forward: rtmp://from-file\n")); err != nil {
		t.Fatal(err)
	}
	if got := fw.String(); got != "rtmp://a live/*=rtmp://b" {
		t.Fatalf("forward = %q", got)
	}
	err := fs.Parse([]string{"-forward", "live[=rtmp://a"})
	if err == nil || !strings.Contains(err.Error(), "-forward") || !strings.Contains(err.Error(), "syntax error in pattern") {
		t.Fatalf("a bad pattern on the command line: %v, want an error naming -forward", err)
	}
}

// FuzzForwardYAML: any YAML value of forward: is taken or refused, never
// panics; every rule taken reads back from its String as itself.
func FuzzForwardYAML(f *testing.F) {
	for _, s := range []string{"rtmp://a", "[rtmp://a, live=rtmp://b]", "{live: rtmp://a, \"s/*\": [rtmp://b, rtmp://c]}",
		"{live: {x: 1}}", "[[a]]", "*x", "~", "{\"[\": rtmp://a}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var n yaml.Node
		if yaml.Unmarshal([]byte(doc), &n) != nil || len(n.Content) == 0 {
			return
		}
		var fw forwardFlag
		if fw.SetYAML(n.Content[0]) != nil {
			return
		}
		for _, r := range fw.rules {
			var again forwardFlag
			if err := again.Set(r.String()); err != nil || again.String() != r.String() {
				t.Fatalf("rule %q from %q reads back as %q, %v", r.String(), doc, again.String(), err)
			}
		}
	})
}
