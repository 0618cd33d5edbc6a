package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestServeFlagErrors: settings that cannot work are refused with a
// message naming the flag and what it wants.
func TestServeFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-workers", "-3"}, "-workers -3: want 0 (one per CPU) or more"},
		{[]string{"-flush-interval", "5"}, "want a duration such as 200ms"},
		{[]string{"-play-wait", "soon"}, "want a duration such as 200ms"},
		{[]string{"-publisher-timeout", "0s"}, "-publisher-timeout 0s: want a positive duration"},
		{[]string{"-publish-grace", "-1s"}, "-publish-grace -1s: want a positive duration"},
		{[]string{"-stats-interval", "-1s"}, "-stats-interval -1s: want 0 (off)"},
		{[]string{"-listen-tls", "127.0.0.1:0", "-tls-cert", "c.pem"}, "-listen-tls 127.0.0.1:0 needs -tls-cert and -tls-key"},
		{[]string{"-tls-key", "k.pem"}, "-tls-cert and -tls-key need -listen-tls"},
		{[]string{"-origin-timeout", "0s"}, "-origin-timeout 0s: want a positive duration"},
		{[]string{"-forward-timeout", "-2s"}, "-forward-timeout -2s: want a positive duration"},
		{[]string{"-edge-linger", "0s"}, "-edge-linger 0s: want a positive duration"},
		{[]string{"-origin-refresh", "-1s"}, "-origin-refresh -1s: want a positive duration"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var c serveConfig
			fs := serveFlags(&c)
			var out bytes.Buffer
			fs.SetOutput(&out)
			err := fs.Parse(tc.args)
			if err == nil {
				err = c.validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	var c serveConfig
	if err := serveFlags(&c).Parse(nil); err != nil || c.validate() != nil {
		t.Errorf("the defaults do not validate: %v, %v", err, c.validate())
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
