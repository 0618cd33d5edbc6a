package httpflv

import (
	"context"
	"time"

	"github.com/bbllive/bbllive/fanout"
)

// waitPublished reports whether key has a publisher, waiting up to d for
// one to appear (or for the client to go away). It is the one place that
// decides "not found", so that the hub's own not-found mechanism can
// replace it.
func waitPublished(ctx context.Context, hub *fanout.Hub, key string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if s := hub.Stream(key); s != nil && s.Live() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}
