package hls

import (
	"log/slog"
	"sync"
	"time"
)

// refusalLog logs refused HLS requests at most once per interval: a
// player that lost its session retries every part, and one line says as
// much as a hundred. The lines left out are counted in the next one.
type refusalLog struct {
	log      *slog.Logger
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *refusalLog) refused(path, remote string, status int, why string) {
	now := time.Now()
	l.mu.Lock()
	if now.Sub(l.last) < l.interval {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	l.log.Warn("hls request refused", "path", path, "client", remote, "status", status, "why", why,
		"suppressed_since_last", n)
}
