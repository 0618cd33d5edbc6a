package bench

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
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
