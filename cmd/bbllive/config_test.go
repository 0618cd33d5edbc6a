package main

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/access"
	"github.com/bbllive/bbllive/rtmp"
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
			if _, err := applyConfigFile(fs, writeConfig(t, tc.yaml)); err != nil {
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
	if _, err := applyConfigFile(fs, writeConfig(t, "origin: rtmp://o1,rtmp://o2\nedge-linger: 3s\nhls: false\n")); err != nil {
		t.Fatal(err)
	}
	if *origin != "rtmp://o1,rtmp://o2" || *linger != 3*time.Second || *hls {
		t.Fatalf("origin %q linger %s hls %v", *origin, *linger, *hls)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"a list for a single-valued flag", "origin: [a, b]\n", "line 1: origin: want a single value, not a list"},
		{"a mapping for a single-valued flag", "edge-linger: {a: 1}\n", "line 1: edge-linger: want a single value, not a mapping"},
		{"a list inside forward's list", "forward:\n  - [rtmp://a]\n", "forward: line 2: a list item is one rule"},
		{"a mapping inside forward's mapping", "forward:\n  live: {x: rtmp://a}\n", "forward: line 2: pattern \"live\": want a URL or a list of URLs, not a mapping"},
		{"a bad pattern", "forward:\n  \"live[\": rtmp://a\n", "forward: line 2: pattern \"live[/*\": syntax error in pattern"},
		{"a bad URL in a list", "forward: [\"live=http://a\"]\n", "forward: line 1: forward target"},
		{"an unknown key", "hls: true\nforwards: rtmp://a\n", `line 2: unknown key "forwards"`},
		{"a key twice", "origin: a\norigin: b\n", "line 2: origin is set twice"},
		{"not a mapping", "- origin\n", "line 1: want a mapping of flag names to values, not a list"},
		{"a bad duration", "edge-linger: soon\n", `line 1: edge-linger "soon": want a duration such as 200ms`},
		{"a bad bool", "hls: maybe\n", `line 1: hls "maybe": want true or false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, _, _, _, _ := configFlags()
			_, err := applyConfigFile(fs, writeConfig(t, tc.yaml))
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
	if _, err := applyConfigFile(fs, writeConfig(t, "forward: rtmp://from-file\n")); err != nil {
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

// TestConfigFileBadValues: a value the flag does not allow, set in the
// config file, is refused with exit code 2 and a message naming the file,
// the key's line, the key and the value as written; a flag given on the
// command line is named as such, and beats the file.
func TestConfigFileBadValues(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		args       []string
		want       []string // each in the message; "FILE" is the file's path
	}{
		{"zero part", "hls-part: 0\n", nil, []string{"config FILE: line 1: hls-part 0: must be between 20ms and 2s (-hls-segment-target)"}},
		{"negative concurrency after good keys", "# hooks\nworkers: 4\nhook-concurrency: -1\n", nil,
			[]string{"config FILE: line 3: hook-concurrency -1: must be positive"}},
		{"registered memory", "uring-registered: -1\n", nil, []string{"config FILE: line 1: uring-registered -1: must be between 65536 and 1073741824"}},
		{"quoted duration", "hls-idle: \"1s\"\n", nil, []string{"config FILE: line 1: hls-idle 1s: must be at least 4s (twice -hls-segment-target)"}},
		{"two bad keys, each named", "hls-window: 2\nmax-chunk-size: 0\n", nil,
			[]string{"config FILE: line 1: hls-window 2: must be at least 3", "config FILE: line 2: max-chunk-size 0: must be between 128 and 16777216"}},
		{"not a number", "workers: abc\n", nil, []string{`config FILE: line 1: workers "abc": want a whole number`}},
		{"not a duration", "hook-timeout: 5\n", nil, []string{`config FILE: line 1: hook-timeout "5": want a duration such as 200ms`}},
		{"a list", "max-players: [1]\n", nil, []string{"config FILE: line 1: max-players: want a single value, not a list"}},
		{"a limit that follows a key of the file", "hls-segment-target: 100ms\n", nil,
			[]string{"-hls-part 200ms: must be between 20ms and 100ms (-hls-segment-target)"}},
		{"the command line's value is named as such", "hook-timeout: 1s\n", []string{"-hook-timeout", "0s"},
			[]string{"bbllive: -hook-timeout 0s: must be positive"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.yaml)
			code, printed, _ := serveArgsOutcome(append([]string{"-config", path}, tc.args...))
			if code != 2 {
				t.Fatalf("exit %d, printed %q; want 2", code, printed)
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "FILE", path); !strings.Contains(printed, w) {
					t.Errorf("printed %q, want %q in it", printed, w)
				}
			}
			if strings.Contains(printed, "Run 'bbllive serve -h'") {
				t.Errorf("a config file's error carries the command line's usage hint: %q", printed)
			}
		})
	}
	for _, tc := range []struct{ name, yaml string }{
		{"the command line beats a bad value of the file", "hls-part: 0\n"},
		{"an empty file", ""},
		{"only comments", "# hls-part: 0\n"},
		{"null", "~\n"},
	} {
		args := []string{"-config", writeConfig(t, tc.yaml)}
		if strings.Contains(tc.yaml, "hls-part: 0") {
			args = append(args, "-hls-part", "100ms")
		}
		if code, printed, _ := serveArgsOutcome(args); code != -1 {
			t.Errorf("%s: exit %d, %q; want it taken", tc.name, code, printed)
		}
	}
}

// TestConfigFileBadWords: a word a word flag does not take, set in the
// config file, is refused with exit code 2 and a message naming the file,
// the key's line, the key, the value and the words allowed — each word
// flag's rows of refusedFlags, written in a file.
func TestConfigFileBadWords(t *testing.T) {
	words := map[string]bool{}
	for _, ch := range serveChoices {
		words[ch.flag] = true
	}
	n := 0
	for _, tc := range refusedFlags {
		if !words[tc.flag] || len(tc.args) != 2 {
			continue
		}
		n++
		t.Run(tc.flag+" "+tc.args[1], func(t *testing.T) {
			path := writeConfig(t, "workers: 2\n"+tc.flag+": "+strconv.Quote(tc.args[1])+"\n")
			code, printed, _ := serveArgsOutcome([]string{"-config", path})
			want := "bbllive: config " + path + ": line 2: " + tc.flag + " " + tc.value + ": " + tc.allowed + "\n"
			if code != 2 || printed != want {
				t.Fatalf("exit %d, printed %q; want 2 and %q", code, printed, want)
			}
		})
	}
	if n < len(serveChoices) {
		t.Fatalf("%d rows for %d word flags", n, len(serveChoices))
	}
	t.Run("two bad words and a bad number, each named", func(t *testing.T) {
		path := writeConfig(t, "io: fast\nhls-window: 2\nlog-format: yaml\n")
		code, printed, _ := serveArgsOutcome([]string{"-config", path})
		for _, w := range []string{"line 1: io fast: want one of auto, uring, netpoll", "line 2: hls-window 2: must be at least 3",
			"line 3: log-format yaml: want one of text, json"} {
			if code != 2 || !strings.Contains(printed, "config "+path+": "+w) {
				t.Errorf("exit %d, printed %q; want 2 and %q", code, printed, w)
			}
		}
	})
	t.Run("an empty value", func(t *testing.T) {
		path := writeConfig(t, "flush:\n")
		code, printed, _ := serveArgsOutcome([]string{"-config", path})
		if want := "config " + path + `: line 1: flush "": want one of message, interval, gop`; code != 2 || !strings.Contains(printed, want) {
			t.Errorf("exit %d, printed %q; want 2 and %q", code, printed, want)
		}
	})
	t.Run("the command line beats a bad word of the file", func(t *testing.T) {
		code, printed, c := serveArgsOutcome([]string{"-config", writeConfig(t, "io: fast\n"), "-io", "netpoll"})
		if code != -1 || c.io != "netpoll" {
			t.Errorf("exit %d, printed %q; want -io netpoll taken", code, printed)
		}
	})
}

// TestReloadRefusesBadValue: a reload (API and SIGHUP) whose file has a
// value a flag does not allow — out of range, not a number, not one of its
// words — is refused, names the key and the value in its answer and its
// log line (once), and keeps every setting in force — here -max-players 1,
// and the refused flag's own value — while the server goes on serving its
// players; a bad word is refused even for a flag a reload cannot change
// (and would otherwise name as needing a restart). A good reload
// afterwards applies, naming a changed word flag as needing a restart.
func TestReloadRefusesBadValue(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bbllive.yaml")
	write := func(s string) {
		if !strings.Contains("\n"+s, "\nio: ") {
			s += "io: netpoll\n" // as serverArgs has it, which leaves -io to this file
		}
		if err := os.WriteFile(cfg, []byte(s+"api-token: "+testAPIToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("max-players: 1\n")
	srv := startAccessServerLeaving(t, []string{"-log-level", "-io"}, "-config", cfg)
	startMetricsPub(t, srv.url("r"), 300_000)
	first := startCountingPlayer(t, srv.url("r"))
	waitFor(t, 5*time.Second, "the first player's media", func() bool { return first.n.Load() > 0 })
	secondRefused := func(when string) {
		t.Helper()
		t.Logf("a second player %s: -max-players 1 must still refuse it", when)
		wantRefusal(t, rtmpPlayOutcome(srv.url("r")), rtmp.CodePlayFailed, access.ReasonMaxPlayers)
	}
	secondRefused("at start")
	stillServing := func(when string) {
		t.Helper()
		before := first.n.Load()
		waitFor(t, 5*time.Second, "the first player to keep receiving "+when, func() bool { return first.n.Load() > before })
	}

	rows := []struct{ name, yaml, want string }{
		{"a reloadable flag", "max-players: -1\n", "line 1: max-players -1: must be 0 (no limit) or positive"},
		{"a flag that needs a restart", "max-players: 0\nhls-part: 0\n", "line 2: hls-part 0: must be between 20ms and 2s"},
		{"not a number", "max-players: lots\n", `line 1: max-players "lots": want a whole number`},
	}
	// Each word flag's refused words, beside a change that alone would
	// apply (-max-players 0).
	words := map[string]bool{}
	for _, ch := range serveChoices {
		words[ch.flag] = true
	}
	for _, r := range refusedFlags {
		if words[r.flag] && len(r.args) == 2 {
			rows = append(rows, struct{ name, yaml, want string }{"-" + r.flag + " " + r.value,
				"max-players: 0\n" + r.flag + ": " + strconv.Quote(r.args[1]) + "\n", "line 2: " + r.flag + " " + r.value + ": " + r.allowed})
		}
	}
	for _, tc := range rows {
		refusedBefore := srv.logs.Count("reload failed; keeping the current settings")
		write(tc.yaml)
		st, body := apiCall(t, "POST", "http://"+srv.http+"/api/reload", testAPIToken)
		var answer struct {
			Reloaded bool   `json:"reloaded"`
			Error    string `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &answer); err != nil {
			t.Fatalf("%s: %d %q: %v", tc.name, st, body, err)
		}
		if st != http.StatusUnprocessableEntity || answer.Reloaded || !strings.Contains(answer.Error, "config "+cfg+": "+tc.want) {
			t.Fatalf("%s: reload answered %d %+v, want 422 naming %q", tc.name, st, answer, tc.want)
		}
		if n := srv.logs.Count("reload failed; keeping the current settings") - refusedBefore; n != 1 ||
			countLines(srv.logs.String(), "reload failed; keeping the current settings", strings.ReplaceAll(tc.want, `"`, `\"`)) < 1 {
			t.Errorf("%s: %d new reload-failed lines, want 1 naming %q", tc.name, n, tc.want)
		}
		secondRefused("after " + tc.name)
		stillServing("after " + tc.name)
	}

	write("max-players: 0\nhook-timeout: 0s\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logged := "line 2: hook-timeout 0s: must be positive"
	waitFor(t, 5*time.Second, "the refused SIGHUP reload's log line", func() bool {
		return countLines(srv.logs.String(), "reload failed; keeping the current settings", logged) == 1
	})
	secondRefused("after the SIGHUP")
	stillServing("after the SIGHUP")

	// The refused reloads left every flag's value as it was: only the
	// word changed here needs a restart.
	write("max-players: 2\nhls-segment: ts\n")
	st, body := apiCall(t, "POST", "http://"+srv.http+"/api/reload", testAPIToken)
	var answer struct {
		Reloaded bool     `json:"reloaded"`
		Restart  []string `json:"restart_needed"`
	}
	if err := json.Unmarshal([]byte(body), &answer); err != nil || st != http.StatusOK || !answer.Reloaded ||
		!slices.Equal(answer.Restart, []string{"hls-segment"}) {
		t.Fatalf("a good reload after the bad ones: %d %s (%v); want 200 with restart_needed [hls-segment]", st, body, err)
	}
	if err := rtmpPlayOutcome(srv.url("r")); err != nil {
		t.Fatalf("-max-players 2 reloaded, yet a second player: %v", err)
	}
	stillServing("after the good reload")
}
