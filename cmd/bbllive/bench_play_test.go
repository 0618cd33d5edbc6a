package main

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBenchPlayEnds runs bench play as a user does, with phases that must
// end on their own: a -warmup of 0 is no warm-up (it once waited forever),
// and players that all fail to set up end the run at once with their
// errors instead of a warm-up and a window over nobody.
func TestBenchPlayEnds(t *testing.T) {
	bin := buildBinary(t)
	srv := startServer(t)
	startSynthPub(t, srv.url("bp"), synthSpec{video: "avc", audio: true, meta: true, fps: 25, gop: 25,
		keyBytes: 4000, frameBytes: 800, audioBytes: 200, tag: 'P', duration: 20 * time.Second})
	refused := freeLoopbackPort(t) // nothing listens there: connecting is refused

	for _, tc := range []struct {
		name     string
		url      string
		exit     int
		within   time.Duration
		contains string
	}{
		{"warmup 0 plays and measures", srv.url("bp"), 0, 12 * time.Second, "2 playing"},
		{"every player refused", "rtmp://" + refused + "/live/x", 1, 5 * time.Second, "dial/refused=3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := "2"
			if tc.exit != 0 {
				n = "3"
			}
			cmd := exec.Command(bin, "bench", "play", "-url", tc.url, "-n", n, "-warmup", "0s", "-duration", "1s")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(tc.within + 20*time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("still running after %v; stderr:\n%s", time.Since(start).Round(time.Second), stderr.String())
			}
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.exit {
				t.Errorf("exit %d, want %d; stdout:\n%s", code, tc.exit, stdout.String())
			}
			if took := time.Since(start); took > tc.within {
				t.Errorf("took %v, want under %v", took.Round(time.Millisecond), tc.within)
			}
			if !strings.Contains(stdout.String(), tc.contains) {
				t.Errorf("report lacks %q:\n%s", tc.contains, stdout.String())
			}
		})
	}
}
