package hls

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/logtest"
	"github.com/bbllive/bbllive/rtmp"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// rig is a hub behind a real RTMP listener with the HLS handler on a
// real HTTP listener, all on 127.0.0.1.
type rig struct {
	logs *logtest.Buffer // the HLS server's log
	hub  *fanout.Hub
	rtmp string // rtmp://127.0.0.1:port
	hls  *Server
	http *httptest.Server
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	fc := fanout.Config{Flush: fanout.FlushMessage}
	hub := fanout.NewHub(fc, fanout.NewNetpoll(fc), quiet())
	srv := &rtmp.Server{Handler: hub, Logger: quiet()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	logs := &logtest.Buffer{}
	h, err := NewServer(hub, cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		hs.Close()
		h.Close()
		srv.Close()
		hub.Close()
	})
	return &rig{logs: logs, hub: hub, rtmp: "rtmp://" + ln.Addr().String(), hls: h, http: hs}
}

// publish sends a synthetic stream in real time for d, then leaves; the
// returned channel reports the end.
func (r *rig) publish(t *testing.T, name string, cfg synth.Config, d time.Duration) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	c, err := rtmp.Dial(ctx, r.rtmp+"/live/"+name)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := c.Publish(); err != nil {
		cancel()
		t.Fatal(err)
	}
	src, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer cancel()
		defer c.Close()
		start := time.Now()
		for {
			m, at := src.Next()
			if at > d {
				done <- nil
				return
			}
			time.Sleep(time.Until(start.Add(at)))
			if err := c.WriteMessage(m); err != nil {
				done <- err
				return
			}
			if err := c.Flush(); err != nil {
				done <- err
				return
			}
		}
	}()
	t.Cleanup(func() { c.Close() })
	return done
}

// get fetches a path of the HLS handler.
func (r *rig) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(r.http.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// waitLive waits until the hub has the stream live.
func (r *rig) waitLive(t *testing.T, key string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s := r.hub.Stream(key); s != nil && s.Live() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never went live", key)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
