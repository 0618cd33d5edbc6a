package browser

import (
	"context"
	"fmt"
	"time"

	"github.com/chromedp/chromedp"
)

// Playback is what a page reports of its player: the first <video>'s
// currentTime and any error the page recorded in window.playerError (pages
// set it from the player's error events and the video's "error" event).
type Playback struct {
	CurrentTime float64 `json:"t"`
	Error       string  `json:"err"`
}

// playbackJS reads Playback from the page.
const playbackJS = `(() => {
	const v = document.querySelector('video');
	return {t: v ? v.currentTime : 0, err: String(window.playerError || '')};
})()`

// WatchPlayback polls the page until the first video has advanced by at
// least want seconds from its time at the first poll, or within passes. It
// returns the last reading and how far playback advanced; an error from the
// page or the deadline is an error.
func WatchPlayback(ctx context.Context, want, within time.Duration) (Playback, float64, error) {
	var last Playback
	start, err := chromedp.Run(ctx, chromedp.Evaluate[Playback](playbackJS))
	if err != nil {
		return last, 0, err
	}
	deadline := time.Now().Add(within)
	for {
		if last, err = chromedp.Run(ctx, chromedp.Evaluate[Playback](playbackJS)); err != nil {
			return last, 0, err
		}
		advanced := last.CurrentTime - start.CurrentTime
		if last.Error != "" {
			return last, advanced, fmt.Errorf("page reported a player error: %s", last.Error)
		}
		if advanced >= want.Seconds() {
			return last, advanced, nil
		}
		if time.Now().After(deadline) {
			return last, advanced, fmt.Errorf("video advanced %.2fs in %s, want %s", advanced, within, want)
		}
		select {
		case <-ctx.Done():
			return last, advanced, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
