package relay

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/tlstest"
	"github.com/bbllive/bbllive/rtmp"
)

// TestPullFailsOverToTheNextOrigin: a pull plays from the stream's owner;
// when the owner dies, the next origin of the ranking takes over within a
// second or so, and the puller reports each upstream it plays from.
func TestPullFailsOverToTheNextOrigin(t *testing.T) {
	o1, o2 := startOrigin(t), startOrigin(t)
	const key = "live/failover"
	entries, err := ParseList(o1.addr + "," + o2.addr)
	if err != nil {
		t.Fatal(err)
	}
	set := NewSet(entries, nil)
	if _, err := set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	byAddr := map[string]*testOrigin{o1.addr: o1, o2.addr: o2}
	tags := map[string]byte{o1.addr: 1, o2.addr: 2}
	for addr, o := range byAddr {
		o.publish(t, key, tags[addr])
	}
	ranked := set.Rank(key)
	owner, next := ranked[0].Addr, ranked[1].Addr

	sink := make(recordingSink, 64)
	connected := make(chan string, 4)
	p := &Puller{Key: key, Origins: set, Sink: sink, Connected: func(o Origin, _ net.Conn) { connected <- o.Addr }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()

	if got := <-connected; got != owner {
		t.Fatalf("pulled from %s first, want the owner %s", got, owner)
	}
	waitTag(t, sink, tags[owner], 5*time.Second)

	killed := time.Now()
	byAddr[owner].stop()
	select {
	case got := <-connected:
		if got != next {
			t.Fatalf("failed over to %s, want %s", got, next)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no failover within 3 s")
	}
	waitTag(t, sink, tags[next], 3*time.Second)
	t.Logf("media again from the next origin %s after the owner died", time.Since(killed).Round(time.Millisecond))
}

func TestRotateAfter(t *testing.T) {
	r := []Origin{{Addr: "a"}, {Addr: "b"}, {Addr: "c"}}
	got := rotateAfter(r, "a")
	if got[0].Addr != "b" || got[1].Addr != "c" || got[2].Addr != "a" {
		t.Fatalf("rotateAfter a = %v", got)
	}
	if r[0].Addr != "a" {
		t.Fatal("rotateAfter changed its input")
	}
	if got := rotateAfter(r, "x"); got[0].Addr != "a" {
		t.Fatalf("rotateAfter of an absent origin = %v", got)
	}
}

// TestPullOverRTMPS: publish and pull over RTMPS, through a TLS terminator
// with a self-signed certificate the client trusts; a client that does not
// trust it is refused. (The server's own TLS listener is not here yet: its
// transports write to raw sockets.)
func TestPullOverRTMPS(t *testing.T) {
	srvCfg, cliCfg := tlstest.Configs(t)
	o := behindTLS(t, startOrigin(t), srvCfg)
	const key = "live/tls"
	o.publishWith(t, &rtmp.Dialer{TLSConfig: cliCfg}, key, 7)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := (&rtmp.Dialer{}).Dial(ctx, "rtmps://"+o.addr+"/"+key); err == nil {
		t.Fatal("an untrusted certificate was accepted")
	}

	entries, err := ParseList("rtmps://" + o.addr)
	if err != nil {
		t.Fatal(err)
	}
	set := NewSet(entries, nil)
	set.Refresh(ctx)
	sink := make(recordingSink, 64)
	p := &Puller{Key: key, Origins: set, Sink: sink, TLSConfig: cliCfg}
	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	go p.Run(pctx)
	waitTag(t, sink, 7, 5*time.Second)
}

// TestPullLeavesAnOriginThatWentSilent: the owner of a pulled stream is
// cut off while it plays (its link goes down: no reset, no answer); the
// pull notices within DefaultDeadAfter and moves to the next origin, and
// the edge's player gets media again on its connection.
func TestPullLeavesAnOriginThatWentSilent(t *testing.T) {
	owner, cut := originBehindLink(t)
	next := startOrigin(t)
	set := setOf(t, owner.addr, next.addr)
	key := keyOwnedBy(t, set, owner.addr)
	owner.publish(t, key, 1)
	next.publish(t, key, 2)
	e, _ := startEdge(t, "127.0.0.1:0", set, time.Second)
	tags := playTags(t, e.addr, key)
	waitTag(t, tags, 1, 5*time.Second)
	cut()
	start := time.Now()
	waitTag(t, tags, 2, DefaultDeadAfter+3*time.Second)
	t.Logf("media from the next origin %s after the owner was cut off", time.Since(start).Round(time.Millisecond))
}

// TestPullFindsARestartedStreamOnItsOwner: the stream's publisher on its
// owning origin unpublishes and starts again; the edge's pull looks for it
// on the owner again (not on the next origin, which would keep it waiting
// out that origin's play-wait), and the edge's player gets the new
// publisher's frames within a second or so.
func TestPullFindsARestartedStreamOnItsOwner(t *testing.T) {
	o1, o2 := startOrigin(t), startOrigin(t)
	set := setOf(t, o1.addr, o2.addr)
	key := keyOwnedBy(t, set, o1.addr)
	first := startLocalPublisher(t, o1.addr, key, 1)
	e, edge := startEdge(t, "127.0.0.1:0", set, time.Second)
	p := startStatusPlayer(t, e.addr, key)
	waitFor(t, 5*time.Second, "the edge's player gets video", func() bool { return p.frames.Load() > 0 })
	first.unpublish(t)
	p.waitCode(t, rtmp.CodePlayUnpublish, 2*time.Second)
	time.Sleep(300 * time.Millisecond) // the encoder's restart takes a moment
	frames := p.frames.Load()
	restarted := time.Now()
	startLocalPublisher(t, o1.addr, key, 3)
	waitFor(t, 2*time.Second, "the restarted stream reaches the edge's player", func() bool { return p.frames.Load() > frames })
	t.Logf("the restarted stream on the edge %s after it started again", time.Since(restarted).Round(time.Millisecond))
	if n := edge.Stats.UpstreamChanges.Load(); n > 3 {
		t.Errorf("%d upstream changes: the pull spins on the ended stream", n)
	}
	if playersOf(o2, key) != 0 {
		t.Error("the pull waits on the origin that never had the stream")
	}
}
