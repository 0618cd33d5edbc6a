package hls

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/fanout/hls/hlstest"
)

func TestServesLowLatencyHLS(t *testing.T) {
	r := newRig(t, Config{SegmentTarget: time.Second, IdleTimeout: 4 * time.Second})
	pub := r.publish(t, "a", synth.Config{GOP: 25, Audio: true}, 4*time.Second)
	r.waitLive(t, "live/a")

	resp, body := r.get(t, "/live/a/index.m3u8")
	if resp.StatusCode != 200 {
		t.Fatalf("playlist: %s %s", resp.Status, body)
	}
	checkHeaders(t, resp, typePlaylist, "no-cache")
	pl, err := hlstest.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.Validate(); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}

	t.Run("media", func(t *testing.T) {
		seg := pl.Segments[0]
		for _, uri := range []string{seg.Map, seg.URI, pl.Segments[len(pl.Segments)-1].Parts[0].URI} {
			resp, b := r.get(t, "/live/a/"+uri)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %s", uri, resp.Status)
			}
			checkHeaders(t, resp, typeMedia, "immutable")
			if want := map[bool]string{true: "ftyp", false: "moof"}[strings.HasPrefix(uri, "init")]; string(b[4:8]) != want {
				t.Errorf("%s starts with %q, want %q", uri, b[4:8], want)
			}
		}
	})

	t.Run("blocking reload", func(t *testing.T) {
		hint := pl.PreloadHint
		var msn uint64
		var part int
		if _, err := fmt.Sscanf(hint[strings.IndexByte(hint, '-')+1:], "%d.%d.m4s", &msn, &part); err != nil {
			t.Fatalf("hint %q: %v", hint, err)
		}
		resp, b := r.get(t, fmt.Sprintf("/live/a/index.m3u8?_HLS_msn=%d&_HLS_part=%d", msn, part))
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`URI="`+hint+`"`)) {
			t.Fatalf("blocking reload for %s: %s\n%s", hint, resp.Status, b)
		}
		// The preload hint itself is held until it exists.
		next, _ := hlstest.Parse(b)
		resp, _ = r.get(t, "/live/a/"+next.PreloadHint)
		if resp.StatusCode != 200 {
			t.Fatalf("preload hint %s: %s", next.PreloadHint, resp.Status)
		}
		if err := pl.Continues(next); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		last := pl.Segments[len(pl.Segments)-1].MSN + 1
		for _, q := range []string{
			fmt.Sprintf("_HLS_msn=%d", last+10), // too far ahead
			fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", last, 99),
			"_HLS_part=1", "_HLS_msn=x", "_HLS_msn=-1",
		} {
			if resp, b := r.get(t, "/live/a/index.m3u8?"+q); resp.StatusCode != 400 {
				t.Errorf("?%s: %s %s, want 400", q, resp.Status, b)
			}
		}
		for _, p := range []string{"/live/nope/index.m3u8", "/live/a/other-1.m4s", "/live/a/init-x-1.mp4", "/live/a", "/a/b/c/d"} {
			if resp, _ := r.get(t, p); resp.StatusCode != 404 {
				t.Errorf("%s: %s, want 404", p, resp.Status)
			}
		}
		req, _ := http.NewRequest(http.MethodOptions, r.http.URL+"/live/a/index.m3u8", nil)
		req.Header.Set("Origin", "http://elsewhere.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("OPTIONS: %s %v", resp.Status, resp.Header)
		}
	})

	if err := <-pub; err != nil {
		t.Fatal(err)
	}
	t.Run("503 when the stream stalls", func(t *testing.T) {
		resp, b := r.get(t, "/live/a/index.m3u8")
		cur, err := hlstest.Parse(b)
		if err != nil {
			t.Fatalf("playlist after the publisher left: %s %v\n%s", resp.Status, err, b)
		}
		next := cur.Segments[len(cur.Segments)-1].MSN + 2
		start := time.Now()
		resp, b = r.get(t, fmt.Sprintf("/live/a/index.m3u8?_HLS_msn=%d", next))
		if resp.StatusCode != 503 {
			t.Fatalf("segment %d of a stalled stream: %s, want 503", next, resp.Status)
		}
		// The publisher left cleanly, within the reconnect grace: the
		// answer says so, and when to try again.
		if want := "stream live/a: publisher gone, waiting up to "; !strings.Contains(string(b), want) {
			t.Errorf("503 body %q, want it to contain %q", b, want)
		}
		if ra := resp.Header.Get("Retry-After"); ra != "1" {
			t.Errorf("503 Retry-After %q, want 1 (the target duration)", ra)
		}
		if waited := time.Since(start); waited < time.Second {
			t.Fatalf("503 after %s: the request was not held", waited)
		}
	})
	t.Run("counted", func(t *testing.T) {
		st := r.hls.Stats()
		for k, n := range st.Requests {
			if n == 0 {
				t.Errorf("no %s request counted: %+v", KindNames[k], st)
			}
		}
		if st.Refused < 10 || st.RemuxersTotal != 1 {
			t.Errorf("%+v: want the refusals and one remuxer counted", st)
		}
	})
	t.Run("idle remuxer stops", func(t *testing.T) {
		deadline := time.Now().Add(10 * time.Second)
		for r.hls.Stats().Remuxers != 0 {
			if time.Now().After(deadline) {
				t.Fatal("the remuxer of an unwatched stream still runs")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if logs := r.logs.String(); !strings.Contains(logs, `msg="hls remuxer stopped" stream=live/a epoch=`) {
			t.Errorf("no log line for the remuxer's end:\n%s", logs)
		}
	})
}

func checkHeaders(t *testing.T, resp *http.Response, ctype, cache string) {
	t.Helper()
	if got := resp.Header.Get("Content-Type"); got != ctype {
		t.Errorf("Content-Type %q, want %q", got, ctype)
	}
	if got := resp.Header.Get("Cache-Control"); !strings.Contains(got, cache) {
		t.Errorf("Cache-Control %q, want %q", got, cache)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("no CORS header")
	}
}

func TestAlwaysRemuxes(t *testing.T) {
	r := newRig(t, Config{Always: true, SegmentTarget: time.Second})
	r.publish(t, "b", synth.Config{GOP: 25}, 3*time.Second)
	r.waitLive(t, "live/b")
	deadline := time.Now().Add(5 * time.Second)
	for r.hls.Stats().Remuxers != 1 {
		if time.Now().After(deadline) {
			t.Fatal("-always did not start a remuxer for a live stream nobody asked for")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{PartTarget: time.Millisecond}, {PartTarget: 3 * time.Second, SegmentTarget: time.Second}, {Window: -1}} {
		if _, err := NewServer(nil, c, nil); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
