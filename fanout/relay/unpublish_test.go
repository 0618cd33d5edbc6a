package relay

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// TestForwardEndsLikeItsPublisher: a forwarded stream ends on its target
// the way it ended here. An unpublish here is an unpublish there: the
// target's player is told at once. A dropped publisher here is a lost
// publisher there: the target's stream loses its publisher at once too
// (the connection closes), but its player is told nothing and stays,
// waiting through the grace for a return.
func TestForwardEndsLikeItsPublisher(t *testing.T) {
	for _, clean := range []bool{true, false} {
		name := map[bool]string{true: "unpublish", false: "drop"}[clean]
		t.Run(name, func(t *testing.T) {
			target, local := startOrigin(t), startOrigin(t)
			pushes := &Pushes{}
			pushes.SetRules([]Rule{{Targets: []string{"rtmp://" + target.addr}}})
			local.hub.OnPublish(pushes.Hook)
			const key = "live/end"
			pub := startLocalPublisher(t, local.addr, key, 1)
			waitFor(t, 5*time.Second, "forwarded", func() bool { return liveOn(target, key) })
			p := startStatusPlayer(t, target.addr, key)
			waitFor(t, 5*time.Second, "the target's player gets video", func() bool { return p.frames.Load() > 0 })

			ended := time.Now()
			if clean {
				pub.unpublish(t)
				took := p.waitCode(t, rtmp.CodePlayUnpublish, time.Second)
				t.Logf("the target's player told of the end %s after the local unpublish", took.Round(time.Millisecond))
			} else {
				pub.drop()
			}
			waitFor(t, time.Second, "the target's stream loses its publisher", func() bool { return !liveOn(target, key) })
			t.Logf("the target's stream without publisher %s after the local end", time.Since(ended).Round(time.Millisecond))
			if !clean {
				p.noCode(t, rtmp.CodePlayUnpublish, 500*time.Millisecond)
				if e := p.err.Load(); e != nil {
					t.Fatalf("the target's player lost its connection on a dropped publisher: %v", *e)
				}
			}
			waitFor(t, 2*time.Second, "the forward ended", func() bool { return pushes.Stats()[0].Forwarding == 0 })
		})
	}
}

// TestUnpublishAtEdgeReachesPlayersOfOtherEdges: a publisher on edge 1
// unpublishes; the forward to the origin unpublishes there, and edge 2's
// pull passes the end on, so edge 2's player is told at once.
func TestUnpublishAtEdgeReachesPlayersOfOtherEdges(t *testing.T) {
	o := startOrigin(t)
	set := originSet(t, o)
	e1, _ := startEdge(t, "127.0.0.1:0", set, time.Second)
	e2, _ := startEdge(t, "127.0.0.1:0", set, time.Second)
	const key = "live/edge-end"
	pub := startLocalPublisher(t, e1.addr, key, 1)
	waitFor(t, 5*time.Second, "forwarded to the origin", func() bool { return liveOn(o, key) })
	p := startStatusPlayer(t, e2.addr, key)
	waitFor(t, 5*time.Second, "edge 2's player gets video", func() bool { return p.frames.Load() > 0 })
	pub.unpublish(t)
	took := p.waitCode(t, rtmp.CodePlayUnpublish, 2*time.Second)
	t.Logf("edge 2's player told of the end %s after the unpublish on edge 1", took.Round(time.Millisecond))
	waitFor(t, time.Second, "the origin's stream ended", func() bool { return !liveOn(o, key) })
}

// TestForwardUnpublishIsBounded: a target that took the publish and then
// went mute (reads nothing more, closes nothing) holds Unpublish up for
// about unpublishWait, not longer.
func TestForwardUnpublishIsBounded(t *testing.T) {
	target := startOrigin(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	mute := make(chan struct{})
	go func() { // a proxy to target that stops passing anything on at mute
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		up, err := net.Dial("tcp", target.addr)
		if err != nil {
			return
		}
		defer up.Close()
		go io.Copy(c, up)
		buf := make([]byte, 4096)
		for {
			select {
			case <-mute:
				<-t.Context().Done()
				return
			default:
			}
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			up.Write(buf[:n])
		}
	}()
	const key = "live/mute"
	f := &Forwarder{URL: "rtmp://" + ln.Addr().String() + "/" + key}
	f.Start()
	stop := make(chan struct{})
	slowest := feed(f, 1, stop)
	waitFor(t, 5*time.Second, "forwarded", func() bool { return liveOn(target, key) })
	close(mute)
	close(stop)
	<-slowest
	start := time.Now()
	f.Unpublish()
	took := time.Since(start)
	t.Logf("Unpublish returned after %s on a mute target", took.Round(time.Millisecond))
	if took > unpublishWait+500*time.Millisecond {
		t.Fatalf("Unpublish took %s on a mute target, want about %s at most", took, unpublishWait)
	}
}
