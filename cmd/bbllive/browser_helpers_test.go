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

// playerScript is the path of the web player name ("mpegts.js", "hls.js"),
// installed from npm, for a page to serve; the test skips, saying what is
// missing, without a headless Chromium or the player.
func playerScript(t *testing.T, name string) string {
	t.Helper()
	if _, err := browser.Find(); err != nil {
		t.Skip(err)
	}
	script, err := browser.Script(name)
	if err != nil {
		t.Skipf("%s from npm: %v", name, err)
	}
	return script
}
