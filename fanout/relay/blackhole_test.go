package relay

import (
	"testing"
	"time"
)

// TestEdgeSkipsBlackholedOwner: the owner of a stream is an address that
// accepts and never answers the RTMP handshake, or one whose connects never
// complete; the edge's pull gives it up after its ConnectTimeout and plays
// from the next origin, and the edge's player gets media.
func TestEdgeSkipsBlackholedOwner(t *testing.T) {
	for _, tc := range []struct {
		name string
		dead func(t *testing.T) string
	}{
		{"accepts and never answers", func(t *testing.T) string { return startSilent(t).addr }},
		{"connect never completes", func(t *testing.T) string {
			addr, why := fullBacklog(t)
			if addr == "" {
				t.Skip(why)
			}
			return addr
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dead := tc.dead(t)
			o := startOrigin(t)
			set := setOf(t, dead, o.addr)
			key := keyOwnedBy(t, set, dead)
			o.publish(t, key, 4)
			e, edge := startEdge(t, "127.0.0.1:0", set, time.Second)
			start := time.Now()
			p := startPlayer(t, e.addr, key)
			waitFor(t, 4*time.Second, "the player gets media from the second origin", func() bool { return p.frames.Load() > 0 })
			took := time.Since(start)
			t.Logf("first frame %s after play, the owner %s dead", took.Round(time.Millisecond), dead)
			if got := playersOf(o, key); got != 1 {
				t.Fatalf("the second origin has %d players, want the edge's pull", got)
			}
			if edge.Stats.Pulls.Load() != 1 {
				t.Fatal("no pull running")
			}
			// One ConnectTimeout (1 s) for the dead owner plus up to a
			// keyframe interval (1 s in publish): more means a longer wait.
			if took > DefaultOriginTimeout+1500*time.Millisecond {
				t.Errorf("media after %s: the dead owner held the failover up", took)
			}
		})
	}
}

// TestEdgePublishSkipsSilentOwner: a publish on an edge whose owner accepts
// and never answers reaches the next origin within about a second.
func TestEdgePublishSkipsSilentOwner(t *testing.T) {
	dead := startSilent(t)
	o := startOrigin(t)
	set := setOf(t, dead.addr, o.addr)
	key := keyOwnedBy(t, set, dead.addr)
	e, _ := startEdge(t, "127.0.0.1:0", set, time.Second)
	start := time.Now()
	e.publish(t, key, 6)
	waitFor(t, 3*time.Second, "the publish reaches the next origin", func() bool { return liveOn(o, key) })
	t.Logf("live on the next origin %s after the publish", time.Since(start).Round(time.Millisecond))
	if dead.accepted.Load() == 0 {
		t.Fatal("the dead owner was never tried")
	}
}

// TestForwardTimesOutAndBacksOff: a target that accepts and never answers
// is given up after ConnectTimeout, each attempt closed and counted as a
// failure, and retried after the backoff rather than at once.
func TestForwardTimesOutAndBacksOff(t *testing.T) {
	dead := startSilent(t)
	f := &Forwarder{URL: "rtmp://" + dead.addr + "/live/x", ConnectTimeout: 200 * time.Millisecond,
		MinBackoff: 300 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
	f.Start()
	stop := make(chan struct{})
	slowest := feed(f, 1, stop)
	defer func() { close(stop); <-slowest }()
	defer f.Close()
	waitFor(t, 3*time.Second, "two timed-out attempts", func() bool { return f.Stats.Failures.Load() >= 2 })
	waitFor(t, time.Second, "the attempts' connections closed", func() bool { return dead.closed.Load() >= 2 })
	if f.Stats.Connects.Load() != 0 {
		t.Fatal("a target that never answered counted as connected")
	}
	// Each attempt is one timeout plus one backoff (0.5 s): in 1.5 s
	// about 3 attempts, not dozens.
	before := dead.accepted.Load()
	time.Sleep(1500 * time.Millisecond)
	if n := dead.accepted.Load() - before; n < 2 || n > 4 {
		t.Fatalf("%d attempts in 1.5 s, want about 3 (200 ms timeout + 300 ms backoff each)", n)
	}
}

// TestEdgePublishLeavesAnOriginThatWentSilent: the owning origin of a
// publish on an edge is cut off while it takes the forward; the forward
// notices within about DefaultDeadAfter and the stream is live on the
// next origin.
func TestEdgePublishLeavesAnOriginThatWentSilent(t *testing.T) {
	owner, cut := originBehindLink(t)
	next := startOrigin(t)
	set := setOf(t, owner.addr, next.addr)
	key := keyOwnedBy(t, set, owner.addr)
	e, _ := startEdge(t, "127.0.0.1:0", set, time.Second)
	e.publish(t, key, 1)
	waitFor(t, 5*time.Second, "forwarded to the owner", func() bool { return liveOn(owner, key) })
	cut()
	start := time.Now()
	waitFor(t, DefaultDeadAfter+3*time.Second, "the publish moves to the next origin", func() bool { return liveOn(next, key) })
	t.Logf("live on the next origin %s after the owner was cut off", time.Since(start).Round(time.Millisecond))
}
