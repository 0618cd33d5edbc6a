package relay

import (
	"log/slog"
	"time"
)

// An edge whose origins stay down keeps trying them, for as long as it has
// viewers. What it says about that is bounded: the first failure is a
// warning with its reason; while the pull keeps failing it says so again at
// growing intervals, with the count of attempts; once media flows again it
// says so once. Between rounds in which every origin failed it waits longer
// and longer, up to maxRoundPause, so that a dead cluster is not dialled
// in a tight loop, while a failover (an origin lost while it played) still
// tries the next origin at once.
const (
	// firstRoundPause is the wait after the first round in which every
	// origin failed; each such round doubles it, up to maxRoundPause.
	firstRoundPause = time.Second
	maxRoundPause   = 4 * time.Second
	// stillLostFirst is when a pull that keeps failing first logs again;
	// the interval doubles up to stillLostMax.
	stillLostFirst = 10 * time.Second
	stillLostMax   = 5 * time.Minute
)

// pullHealth is what a Puller knows of its attempts since media last
// flowed, for its log and its pauses. It is used by the pull's goroutine
// only.
type pullHealth struct {
	log      *slog.Logger
	key      string
	now      func() time.Time // time.Now; tests step it
	attempts int              // failed attempts since media last flowed
	since    time.Time        // the first of them
	nextLog  time.Time        // when a pull that still fails logs again
	every    time.Duration
	pause    time.Duration // the wait after the next round in which every origin fails
}

func newPullHealth(log *slog.Logger, key string) *pullHealth {
	return &pullHealth{log: log, key: key, now: time.Now, pause: firstRoundPause}
}

// failed counts an attempt on origin (empty: there was none to try) that
// ended in err without media, or a pull whose media stopped.
func (h *pullHealth) failed(origin string, err error) {
	now := h.now()
	h.attempts++
	if h.attempts == 1 {
		h.since, h.every = now, stillLostFirst
		h.nextLog = now.Add(h.every)
		h.warn("pull: upstream lost", origin, err)
		return
	}
	if now.Before(h.nextLog) {
		return
	}
	h.every = min(2*h.every, stillLostMax)
	h.nextLog = now.Add(h.every)
	h.warn("pull: upstream still lost", origin, err, "attempts", h.attempts, "for", now.Sub(h.since).Round(time.Millisecond))
}

// playing notes the first media from origin: the pull is well again.
func (h *pullHealth) playing(origin string) {
	if h.log != nil {
		if h.attempts == 0 {
			h.log.Info("pull: playing", "stream", h.key, "origin", origin)
		} else {
			h.log.Info("pull: upstream back", "stream", h.key, "origin", origin,
				"attempts", h.attempts, "after", h.now().Sub(h.since).Round(time.Millisecond))
		}
	}
	h.attempts, h.pause = 0, firstRoundPause
}

// roundPause is the wait after a round in which every origin failed; the
// next such round waits longer.
func (h *pullHealth) roundPause() time.Duration {
	d := h.pause
	h.pause = min(2*h.pause, maxRoundPause)
	return d
}

func (h *pullHealth) warn(msg, origin string, err error, args ...any) {
	if h.log == nil {
		return
	}
	attrs := []any{"stream", h.key}
	if origin != "" {
		attrs = append(attrs, "origin", origin)
	}
	h.log.Warn(msg, append(append(attrs, "err", err), args...)...)
}
