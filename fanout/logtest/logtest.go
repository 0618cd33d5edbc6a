// Package logtest is the log destination the tests of several packages
// share: a buffer safe for concurrent writers (a server's goroutines, an
// external program's stdout and stderr) that a test reads back.
package logtest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// Buffer collects what is written to it; its zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Count is how often sub occurs in what was written so far.
func (l *Buffer) Count(sub string) int { return strings.Count(l.String(), sub) }

// Lines are the lines written so far that contain every one of subs.
func (l *Buffer) Lines(subs ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		if line != "" && containsAll(line, subs) {
			out = append(out, line)
		}
	}
	return out
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// Logger is a text logger at every level into l.
func (l *Buffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
