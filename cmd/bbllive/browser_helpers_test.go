package main

import (
	"context"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/browser"
	"github.com/chromedp/chromedp"
)

// openPage starts a headless Chromium for at most within, runs the
// actions (a viewport, say) and navigates to url; the browser closes when
// the test ends. A machine without the browser skips the test, naming it.
func openPage(t *testing.T, within time.Duration, url string, actions ...chromedp.Action[chromedp.Void]) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	t.Cleanup(cancel)
	bctx, bcancel, err := browser.Start(ctx)
	if err == browser.ErrNoBrowser {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx, append(actions, chromedp.Navigate(url))...); err != nil {
		t.Fatal(err)
	}
	return bctx
}
