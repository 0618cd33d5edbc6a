package bench

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/hls"
	"github.com/bbllive/bbllive/rtmp"
)

// TestHLSLoadFollowsTheStream runs a few LL-HLS clients against an
// in-process server: each fetches about every part, with no error.
func TestHLSLoadFollowsTheStream(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fc := fanout.Config{Flush: fanout.FlushMessage}
	hub := fanout.NewHub(fc, fanout.NewNetpoll(fc), log)
	defer hub.Close()
	srv := &rtmp.Server{Handler: hub, Logger: log}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	h, err := hls.NewServer(hub, hls.Config{SegmentTarget: time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	web := httptest.NewServer(h)
	defer web.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wait, err := PublishMany(ctx, "rtmp://"+ln.Addr().String()+"/live/load", 1, func(int) (MediaSource, error) {
		s, err := synth.New(synth.Config{GOP: 25, Audio: true})
		return SynthSource(s), err
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); wait() }()
	time.Sleep(1500 * time.Millisecond) // the first segment
	lctx, lcancel := context.WithCancel(ctx)
	const clients, window = 5, 3 * time.Second
	load := StartHLSLoad(lctx, web.URL+"/live/load/index.m3u8", clients, 100*time.Millisecond)
	time.Sleep(time.Second)
	before := load.Counters()
	load.MarkLatency()
	time.Sleep(window)
	got := load.Counters().Sub(before)
	lat := load.Latency()
	lcancel()
	load.Wait()
	perClient := float64(got.Parts) / window.Seconds() / clients
	t.Logf("%+v, %.1f parts/s per client, latency behind live %+v ms, PART-HOLD-BACK %v", got, perClient, lat, load.PartHoldBack())
	if got.Errors != 0 || perClient < 3 || perClient > 7 {
		t.Fatalf("%+v (%.1f parts/s per client, want about 5); last error %q", got, perClient, load.LastError())
	}
	// Every part fetched in the window was timed (give or take one part a
	// client had in flight at either end), and against the right clock: no
	// client has a part before its first sample went live, nor a minute
	// later (a date or offset misread is off by seconds or years).
	if lat.N < int(got.Parts)-clients || lat.N > int(got.Parts)+clients || lat.Min < -20 || lat.Max > 60_000 {
		t.Errorf("latency %+v ms over %d parts", lat, got.Parts)
	}
	if load.PartHoldBack() != 600*time.Millisecond {
		t.Errorf("PART-HOLD-BACK %v, want 3 part targets", load.PartHoldBack())
	}
}

// TestHLSLoadWaitStarted checks that WaitStarted gives up, within its
// bound, on clients that get no part, and says how many and why: a
// server that answers nothing, and one whose playlist never gets a new
// part (every blocking reload returns the parts a client skipped).
func TestHLSLoadWaitStarted(t *testing.T) {
	const still = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART-INF:PART-TARGET=0.2\n" +
		"#EXT-X-PART:DURATION=0.2,URI=\"p-1-7.0.m4s\"\n#EXTINF:0.2,\nseg-7.m4s\n" +
		"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p-1-8.0.m4s\"\n"
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    []string
	}{
		{"nothing served", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			[]string{"3 of 3 clients got no part within 300ms", "3 got no playlist", "404"}},
		{"no new part", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, still) },
			[]string{"3 of 3 clients got no part within 300ms", "(3 had a playlist but no new part; last error: none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			web := httptest.NewServer(tt.handler)
			defer web.Close()
			ctx, cancel := context.WithCancel(context.Background())
			load := StartHLSLoad(ctx, web.URL+"/live/x/index.m3u8", 3, 0)
			start := time.Now()
			err := load.WaitStarted(ctx, 300*time.Millisecond)
			took := time.Since(start)
			cancel()
			load.Wait()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if took > 2*time.Second {
				t.Errorf("gave up after %v, bound 300ms", took)
			}
		})
	}
}

func TestNotStarted(t *testing.T) {
	tests := []struct {
		n, listed, started int
		last, want         string
	}{
		{5, 5, 2, "x: 503", "3 of 5 clients got no part within 10s (3 had a playlist but no new part; last error: x: 503)"},
		{5, 1, 0, "", "5 of 5 clients got no part within 10s (4 got no playlist, 1 had a playlist but no new part; last error: none (no response yet))"},
	}
	for _, tt := range tests {
		if got := notStarted(tt.n, tt.listed, tt.started, 10*time.Second, tt.last).Error(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

func TestHTTPAddrFromLog(t *testing.T) {
	for _, line := range []string{
		`time=x level=INFO msg="http listening" addr=127.0.0.1:4242 per_conn_metrics=false`,
		`{"time":"x","level":"INFO","msg":"http listening","addr":"127.0.0.1:4242"}`,
	} {
		if m := httpAddrPattern.FindStringSubmatch(line); m == nil || m[1] != "127.0.0.1:4242" {
			t.Errorf("%s: %q", line, m)
		}
	}
}
