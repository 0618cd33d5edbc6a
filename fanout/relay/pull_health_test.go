package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/logtest"
)

// TestPullHealthLog: what a pull says while its origins fail, stepping
// its clock. A step is "fail@S" (an attempt failed S seconds in) or
// "play@S" (media flowed); want lists the lines logged, as LEVEL msg
// attempts=N.
func TestPullHealthLog(t *testing.T) {
	tests := []struct {
		name  string
		steps string
		want  []string
	}{
		{"first start", "play@0", []string{"INFO pull: playing"}},
		{"failover", "play@0 fail@5 play@5.1", []string{"INFO pull: playing", "WARN pull: upstream lost", "INFO pull: upstream back attempts=1"}},
		{"dead for minutes, an attempt every few seconds", "fail@0 fail@1 fail@3 fail@7 fail@11 fail@15 fail@19 fail@23 fail@27 fail@31 fail@35",
			[]string{"WARN pull: upstream lost", "WARN pull: upstream still lost attempts=5", "WARN pull: upstream still lost attempts=10"}},
		{"dead, then back", "fail@0 fail@1 fail@3 fail@7 play@9", []string{"WARN pull: upstream lost", "INFO pull: upstream back attempts=4"}},
		{"lost again after it recovered", "fail@0 fail@1 play@2 fail@3", []string{"WARN pull: upstream lost", "INFO pull: upstream back attempts=2", "WARN pull: upstream lost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logtest.Buffer
			h := newPullHealth(logs.Logger(), "live/x")
			start := time.Unix(1e9, 0)
			for _, step := range strings.Fields(tt.steps) {
				what, at, _ := strings.Cut(step, "@")
				var s float64
				if _, err := fmt.Sscan(at, &s); err != nil {
					t.Fatalf("step %q: %v", step, err)
				}
				h.now = func() time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
				switch what {
				case "fail":
					h.failed("rtmp://o1", errors.New("connection refused"))
				case "play":
					h.playing("rtmp://o1")
				default:
					t.Fatalf("step %q: want fail@S or play@S", step)
				}
			}
			got := logs.Lines("msg=")
			if len(got) != len(tt.want) {
				t.Fatalf("logged %d lines, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				level, rest, _ := strings.Cut(w, " ")
				msg, attempts, _ := strings.Cut(rest, " attempts=")
				line := got[i]
				if !strings.Contains(line, "level="+level) || !strings.Contains(line, `msg="`+msg+`"`) ||
					(attempts != "" && !strings.Contains(line, "attempts="+attempts+" ")) {
					t.Errorf("line %d: %s\nwant %s", i, line, w)
				}
				if level == "WARN" && !strings.Contains(line, "connection refused") {
					t.Errorf("line %d: %s: a failure's line names no reason", i, line)
				}
			}
		})
	}
}

// TestPullRoundPauseBacksOff: the waits between rounds in which every
// origin failed grow to a bound, and start over once media flowed.
func TestPullRoundPauseBacksOff(t *testing.T) {
	h := newPullHealth(nil, "live/x")
	var got []time.Duration
	for range 5 {
		got = append(got, h.roundPause())
	}
	h.playing("rtmp://o1")
	got = append(got, h.roundPause())
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second, time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pauses %v, want %v", got, want)
	}
}

// TestPullOfADeadOriginLogsOnceAndRecovers: an edge's only origin is
// down (its port refuses). The pull says so once, as a warning with the
// reason, not once per attempt, and tries less often as the origin stays
// down; when the origin comes back with the stream, the pull plays it and
// says so once.
func TestPullOfADeadOriginLogsOnceAndRecovers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the origin is down: its port refuses
	var logs logtest.Buffer
	sink := make(recordingSink, 64)
	p := &Puller{Key: "live/dead", Origins: setOf(t, addr), Sink: sink, Log: logs.Logger()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	time.Sleep(3500 * time.Millisecond) // attempts at 0, 1 and 3 s
	lost := logs.Lines("pull: upstream")
	if len(lost) != 1 || !strings.Contains(lost[0], "level=WARN") || !strings.Contains(lost[0], "refused") {
		t.Fatalf("in 3.5 s of a dead origin the pull logged:\n%s\nwant one warning naming the reason", strings.Join(lost, "\n"))
	}
	o, err := tryOriginOn(t, addr)
	if err != nil {
		t.Skipf("the origin's port was taken meanwhile: %v", err)
	}
	o.publish(t, "live/dead", 3)
	back := time.Now()
	waitTag(t, sink, 3, maxRoundPause+3*time.Second)
	t.Logf("media %s after the origin came back", time.Since(back).Round(time.Millisecond))
	if got := logs.Lines("level=INFO", `msg="pull: upstream back"`, "attempts=3 "); len(got) != 1 {
		t.Errorf("recovery lines %q, want one after 3 attempts; the log:\n%s", got, strings.Join(logs.Lines("msg="), "\n"))
	}
}
