package relay

import (
	"net"
	"testing"
	"time"
)

func TestTargetURL(t *testing.T) {
	for _, tc := range []struct{ tmpl, key, query, want string }{
		{"rtmp://cdn:1935", "live/x", "", "rtmp://cdn:1935/live/x"},
		{"rtmp://cdn/", "live/x", "token=a", "rtmp://cdn/live/x?token=a"},
		{"rtmps://ingest/app2/{name}_hd", "live/x", "", "rtmps://ingest/app2/x_hd"},
		{"rtmp://h/{app}/{name}?key=k", "live/x", "t=1", "rtmp://h/live/x?key=k&t=1"},
		{"rtmp://h/fixed/stream", "live/x", "", "rtmp://h/fixed/stream"},
	} {
		if got := TargetURL(tc.tmpl, tc.key, tc.query); got != tc.want {
			t.Errorf("TargetURL(%q, %q, %q) = %q, want %q", tc.tmpl, tc.key, tc.query, got, tc.want)
		}
	}
}

func TestParseTargets(t *testing.T) {
	if got, err := ParseTargets("rtmp://a:1935, rtmps://b/x/{name}"); err != nil || len(got) != 2 {
		t.Fatalf("ParseTargets = %v, %v", got, err)
	}
	for _, bad := range []string{"http://a", "rtmp://", "a:1935", "rtmp://%zz", "rtmp://a:99999/live/x", "rtmps://a:0", "rtmp://a#x", "rtmp://a/live/x#f", "rtmp://a/{name}", "rtmp://a/live"} {
		if _, err := ParseTargets(bad); err == nil {
			t.Errorf("ParseTargets(%q) accepted", bad)
		}
	}
}

// TestPushesToLocalServerAndSurvivesDeadTargets: a stream published on a
// server with three targets — a second server, a port that refuses, and a
// server that dies — plays on the second server; the local players never
// stall, and each target's failures are counted on its own.
func TestPushesToLocalServerAndSurvivesDeadTargets(t *testing.T) {
	good, dying := startOrigin(t), startOrigin(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := ln.Addr().String()
	ln.Close() // nothing listens: connects are refused
	pushes := &Pushes{}
	pushes.SetRules([]Rule{{Targets: []string{"rtmp://" + good.addr, "rtmp://" + refusing, "rtmp://" + dying.addr + "/{app}/{name}"}}})
	local := startOrigin(t)
	local.hub.OnPublish(pushes.Hook)

	const key = "live/push"
	local.publish(t, key, 9)
	localPlayer := startPlayer(t, local.addr, key)
	remote := startPlayer(t, good.addr, key)
	waitFor(t, 5*time.Second, "the forwarded stream plays on the second server", func() bool { return remote.frames.Load() > 0 })
	waitFor(t, 5*time.Second, "the dying target gets it", func() bool { return liveOn(dying, key) })
	dying.stop()
	before := localPlayer.frames.Load()
	time.Sleep(1500 * time.Millisecond)
	if got := localPlayer.frames.Load() - before; got < 25 {
		t.Fatalf("the local player got %d frames in 1.5 s while targets failed, want ≥ 25", got)
	}
	if remote.frames.Load() == 0 || remote.err.Load() != nil {
		t.Fatal("the good target lost the stream when others failed")
	}
	st := pushes.Stats()
	if len(st) != 3 {
		t.Fatalf("%d targets in the stats, want 3", len(st))
	}
	if st[0].Connects != 1 || st[0].Connected != 1 || st[0].Bytes == 0 || st[0].Failures != 0 {
		t.Errorf("good target: %+v", st[0])
	}
	if st[1].Connects != 0 || st[1].Failures == 0 {
		t.Errorf("refusing target: %+v", st[1])
	}
	if st[2].Connects != 1 || st[2].Failures == 0 || st[2].Connected != 0 {
		t.Errorf("dying target: %+v", st[2])
	}
}
