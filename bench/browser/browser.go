// Package browser drives a real headless Chromium for the tests and
// measurements of what browsers play (HTTP-FLV, WebSocket-FLV, fMP4, HLS):
// it finds the browser, starts it with the flags this closed network needs,
// and installs the web players people embed (hls.js, mpegts.js) from npm
// into an ignored folder, never into the repository.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/chromedp/chromedp"
)

// ErrNoBrowser says that no headless Chromium is installed; tests skip
// with it (.ci/deps.sh installs chromium-headless-shell).
var ErrNoBrowser = errors.New("no headless Chromium (apt-get install chromium-headless-shell)")

// candidates are the browser binaries tried in order: Debian's
// headless-only build first (it plays H.264 and AAC through MSE), then the
// full browser.
var candidates = []string{
	"/usr/lib/chromium/chromium-headless-shell",
	"chromium-headless-shell",
	"chromium",
}

// Find returns the path of the first headless-capable Chromium installed.
func Find() (string, error) {
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// Start launches a headless Chromium with a fresh profile in a temporary
// folder and returns a chromedp context for its first tab. The browser
// lives as long as ctx; cancel closes it and removes the profile. Use
// chromedp.Run / chromedp.Do with the returned context.
func Start(ctx context.Context) (context.Context, context.CancelFunc, error) {
	path, err := Find()
	if err != nil {
		return nil, nil, err
	}
	profile, err := os.MkdirTemp("", "bbllive-chromium-")
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		// Without these Chromium calls home at every start, and this
		// machine's closed network refuses it many times over.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		// Live previews autoplay muted, as a page's would; tests need no
		// user gesture to start playback.
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	tctx, tcancel := chromedp.NewContext(actx)
	if err := chromedp.Do(tctx); err != nil { // starts the browser
		tcancel()
		acancel()
		os.RemoveAll(profile)
		return nil, nil, fmt.Errorf("starting %s: %w", path, err)
	}
	return tctx, func() {
		tcancel()
		acancel()
		os.RemoveAll(profile)
	}, nil
}
