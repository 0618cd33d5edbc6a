package browser

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startOrSkip starts the browser, skipping (with the reason) where none is
// installed.
func startOrSkip(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	bctx, bcancel, err := Start(ctx)
	if err == ErrNoBrowser {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bcancel)
	return bctx
}

func TestStartEvaluates(t *testing.T) {
	ctx := startOrSkip(t)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	sum, err := chromedp.Run(ctx, chromedp.Evaluate[int](`20 + 22`))
	if err != nil {
		t.Fatal(err)
	}
	if sum != 42 {
		t.Fatalf("20 + 22 = %d in the browser", sum)
	}
}

// TestWatchPlaybackErrors checks that a page's recorded error fails the
// watch at once rather than waiting out the deadline.
func TestWatchPlaybackErrors(t *testing.T) {
	ctx := startOrSkip(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<video></video><script>window.playerError = "MediaError 4"</script>`))
	}))
	defer srv.Close()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err := WatchPlayback(ctx, time.Second, 20*time.Second)
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("WatchPlayback = %v after %s, want the page's error at once", err, time.Since(start))
	}
}

func TestScriptInstallsPinnedPlayers(t *testing.T) {
	for name := range Players {
		t.Run(name, func(t *testing.T) {
			path, err := Script(name)
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil || st.Size() < 10000 {
				t.Fatalf("%s: %v, size %d", path, err, st.Size())
			}
		})
	}
	if _, err := Script("left-pad"); err == nil {
		t.Fatal("an unpinned package was accepted")
	}
}
