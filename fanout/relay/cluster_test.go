package relay

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/rtmp"
)

// startEdge starts a bbllive hub on addr that is an edge of origins.
func startEdge(t *testing.T, addr string, origins *Set, linger time.Duration) (*testOrigin, *Edge) {
	t.Helper()
	cfg := fanout.Config{Flush: fanout.FlushMessage}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := fanout.NewHub(cfg, fanout.NewNetpoll(cfg), log)
	edge := &Edge{Hub: hub, Origins: origins, Linger: linger}
	edge.Start()
	srv := &rtmp.Server{Handler: hub, Logger: log, ChunkSize: rtmp.DefaultServerChunkSize}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	o := &testOrigin{addr: ln.Addr().String(), srv: srv, hub: hub, scheme: "rtmp"}
	go srv.Serve(ln)
	t.Cleanup(func() { edge.Close(); o.stop() })
	return o, edge
}

// originSet is the Set of the given servers' addresses.
func originSet(t *testing.T, servers ...*testOrigin) *Set {
	t.Helper()
	addrs := make([]string, len(servers))
	for i, s := range servers {
		addrs[i] = s.addr
	}
	return setOf(t, addrs...)
}

// player is an RTMP player that counts video frames and keeps the time of
// the last one.
type player struct {
	c      *rtmp.Client
	frames atomic.Int64
	last   atomic.Int64 // unix nanos of the last video frame
	err    atomic.Pointer[error]
	done   chan struct{}
}

func startPlayer(t *testing.T, addr, key string) *player {
	t.Helper()
	return startStatusPlayer(t, addr, key).player
}

func (p *player) close() { p.c.Close(); <-p.done }

// waitFor polls cond every 20 ms for up to within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func playersOf(o *testOrigin, key string) int {
	if st := o.hub.Stream(key); st != nil {
		return st.PlayerCount()
	}
	return 0
}

func liveOn(o *testOrigin, key string) bool {
	st := o.hub.Stream(key)
	return st != nil && st.Live()
}

// TestCluster: two origins and two edges on separate loopback addresses.
// A publisher on edge 1 reaches the stream's owning origin; 200 players on
// edge 2 cost that origin one upstream; the owner dies, and both the
// publish and the pull move to the other origin while a player on edge 2
// keeps its connection and gets media again within 3 s; the pull stops
// after the linger once the players leave.
func TestCluster(t *testing.T) {
	o1, err := tryOriginOn(t, "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine's loopback: %v", err)
	}
	o2, err := tryOriginOn(t, "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	set := originSet(t, o1, o2)
	const key, linger = "live/cluster", time.Second
	byAddr := map[string]*testOrigin{o1.addr: o1, o2.addr: o2}
	ranked := set.Rank(key)
	owner, next := byAddr[ranked[0].Addr], byAddr[ranked[1].Addr]

	e1, _ := startEdge(t, "127.0.0.4:0", set, linger)
	e2, edge2 := startEdge(t, "127.0.0.5:0", set, linger)

	e1.publish(t, key, 1)
	waitFor(t, 5*time.Second, "the publish on edge 1 reaches the owning origin", func() bool { return liveOn(owner, key) })
	if liveOn(next, key) {
		t.Fatal("the stream is published on both origins")
	}

	const n = 200
	players := make([]*player, n)
	for i := range players {
		players[i] = startPlayer(t, e2.addr, key)
	}
	waitFor(t, 10*time.Second, "every player on edge 2 gets video", func() bool {
		for _, p := range players {
			if p.frames.Load() == 0 {
				return false
			}
		}
		return true
	})
	if got := playersOf(owner, key); got != 1 {
		t.Fatalf("the owning origin has %d players of the stream, want exactly 1 (edge 2's pull)", got)
	}
	if got := edge2.Stats.PullsStarted.Load(); got != 1 {
		t.Fatalf("edge 2 started %d pulls, want 1", got)
	}
	if got := e2.hub.Stream(key).PlayerCount(); got != n {
		t.Fatalf("edge 2 has %d players, want %d", got, n)
	}

	watched := players[0]
	killed := time.Now()
	owner.stop()
	waitFor(t, 3*time.Second, "the publish moves to the other origin", func() bool { return liveOn(next, key) })
	waitFor(t, 3*time.Second, "the player on edge 2 gets media again", func() bool {
		return watched.last.Load() > killed.UnixNano()+int64(100*time.Millisecond)
	})
	failover := time.Duration(watched.last.Load() - killed.UnixNano())
	t.Logf("media again on edge 2 %s after the owning origin died", failover.Round(time.Millisecond))
	if e := watched.err.Load(); e != nil {
		t.Fatalf("the watched player lost its connection: %v", *e)
	}
	if got := playersOf(next, key); got != 1 {
		t.Fatalf("the new owner has %d players of the stream, want 1", got)
	}
	alive := 0
	for _, p := range players {
		if p.err.Load() == nil {
			alive++
		}
	}
	if alive != n {
		t.Fatalf("%d of %d players on edge 2 kept their connections", alive, n)
	}

	for _, p := range players {
		p.close()
	}
	waitFor(t, linger+3*time.Second, "the pull stops after the linger", func() bool {
		return len(edge2.Pulling()) == 0 && playersOf(next, key) == 0
	})
}

// TestEdgePullsOnlyWhileWatched: a pull starts with the first player, is
// shared by the second, outlives the last by the linger and no more; a
// player who comes back within the linger finds it running.
func TestEdgePullsOnlyWhileWatched(t *testing.T) {
	o := startOrigin(t)
	const key, linger = "live/linger", 500 * time.Millisecond
	o.publish(t, key, 7)
	e, edge := startEdge(t, "127.0.0.1:0", originSet(t, o), linger)
	if len(edge.Pulling()) != 0 {
		t.Fatal("an edge pulls before anyone watches")
	}
	a, b := startPlayer(t, e.addr, key), startPlayer(t, e.addr, key)
	waitFor(t, 5*time.Second, "both get video", func() bool { return a.frames.Load() > 0 && b.frames.Load() > 0 })
	if got := playersOf(o, key); got != 1 {
		t.Fatalf("origin has %d players, want 1", got)
	}
	a.close()
	b.close()
	time.Sleep(linger / 2)
	c := startPlayer(t, e.addr, key)
	waitFor(t, 5*time.Second, "a player back within the linger gets video", func() bool { return c.frames.Load() > 0 })
	if got := edge.Stats.PullsStarted.Load(); got != 1 {
		t.Fatalf("%d pulls started, want 1 (the second player and the returning one share it)", got)
	}
	start := time.Now()
	c.close()
	waitFor(t, linger+2*time.Second, "the pull stops", func() bool { return len(edge.Pulling()) == 0 && playersOf(o, key) == 0 })
	if d := time.Since(start); d < linger {
		t.Fatalf("the pull stopped %s after the last player, before the linger %s", d, linger)
	}
}

// TestEdgeHoldsPullForWaitersAndTaps: an HTTP viewer waiting for the
// stream (AwaitPublisher) and a remuxer's tap count as viewers.
func TestEdgeHoldsPullForWaitersAndTaps(t *testing.T) {
	o := startOrigin(t)
	const key = "live/tap"
	o.publish(t, key, 3)
	e, edge := startEdge(t, "127.0.0.1:0", originSet(t, o), 300*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.hub.AwaitPublisher(ctx, key); err != nil {
		t.Fatalf("a waiting viewer does not start the pull: %v", err)
	}
	var mu sync.Mutex
	got := 0
	count := func(m *rtmp.Message) {
		if m.Type == rtmp.TypeVideo {
			mu.Lock()
			got++
			mu.Unlock()
		}
	}
	untap := e.hub.Stream(key).AddTap(&funcTap{count})
	time.Sleep(time.Second) // past the waiter's linger: the tap alone holds the pull
	mu.Lock()
	before := got
	mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	after := got
	mu.Unlock()
	if after <= before {
		t.Fatalf("the tap stopped getting video (%d then %d): its want does not hold the pull", before, after)
	}
	untap()
	waitFor(t, 3*time.Second, "the pull stops after the tap left", func() bool { return len(edge.Pulling()) == 0 })
}

// TestPublishOnEdgeIsServedLocallyAndNotPulled: players of a stream
// published on an edge get it from the edge; the edge pulls nothing.
func TestPublishOnEdgeIsServedLocallyAndNotPulled(t *testing.T) {
	o := startOrigin(t)
	const key = "live/local"
	e, edge := startEdge(t, "127.0.0.1:0", originSet(t, o), 300*time.Millisecond)
	e.publish(t, key, 5)
	waitFor(t, 5*time.Second, "forwarded to the origin", func() bool { return liveOn(o, key) })
	p := startPlayer(t, e.addr, key)
	waitFor(t, 5*time.Second, "the edge's player gets video", func() bool { return p.frames.Load() > 0 })
	if got := edge.Stats.PullsStarted.Load(); got != 0 {
		t.Fatalf("the edge pulled a stream published on it (%d pulls)", got)
	}
}

// funcTap is a comparable Tap of a function.
type funcTap struct{ f func(*rtmp.Message) }

func (t *funcTap) TapMessage(m *rtmp.Message) { t.f(m) }

// TestLocalPublishReplacesPull: an edge pulls a stream for its player;
// then an encoder publishes the same name on the edge itself: the pull
// yields (it would only loop the edge's own forward back) and the player,
// on the same connection, gets the local publisher's frames.
func TestLocalPublishReplacesPull(t *testing.T) {
	o := startOrigin(t)
	const key = "live/yield"
	o.publish(t, key, 1)
	e, edge := startEdge(t, "127.0.0.1:0", originSet(t, o), 300*time.Millisecond)
	tags := playTags(t, e.addr, key)
	waitTag(t, tags, 1, 5*time.Second)
	e.publish(t, key, 2)
	waitTag(t, tags, 2, 5*time.Second)
	waitFor(t, 5*time.Second, "the pull stops", func() bool { return edge.Stats.Pulls.Load() == 0 })
}

// TestPullResumesAfterLocalPublisherLeaves: an edge pulls a stream for a
// player; an encoder publishes the name on the edge itself and the pull
// yields; a second player joins meanwhile; the encoder leaves (dropped or
// unpublished) while both players stay: the edge pulls from the origin
// again and both get the origin's frames on their connections.
func TestPullResumesAfterLocalPublisherLeaves(t *testing.T) {
	for _, clean := range []bool{false, true} {
		t.Run(map[bool]string{false: "drop", true: "unpublish"}[clean], func(t *testing.T) {
			o := startOrigin(t)
			const key = "live/resume"
			o.publish(t, key, 1)
			e, edge := startEdge(t, "127.0.0.1:0", originSet(t, o), 300*time.Millisecond)
			before := playTags(t, e.addr, key)
			waitTag(t, before, 1, 5*time.Second)

			local := startLocalPublisher(t, e.addr, key, 2)
			waitTag(t, before, 2, 5*time.Second)
			waitFor(t, 5*time.Second, "the pull yields", func() bool { return len(edge.Pulling()) == 0 && playersOf(o, key) == 0 })
			during := playTags(t, e.addr, key)
			waitTag(t, during, 2, 5*time.Second)

			local.halt()
			time.Sleep(100 * time.Millisecond) // the last local frames arrive
			drain(before)
			drain(during)
			left := time.Now()
			if clean {
				local.unpublish(t)
			} else {
				local.drop()
			}
			// The first frame after is the origin's: not the edge's own
			// last GOP looped back through a forward the origin had not
			// ended yet.
			firstTag(t, before, 1, 4*time.Second)
			firstTag(t, during, 1, 4*time.Second)
			t.Logf("the origin's frames again %s after the local publisher left", time.Since(left).Round(time.Millisecond))
			if got := edge.Pulling(); len(got) != 1 || got[0] != key {
				t.Fatalf("pulling %q, want [%s]", got, key)
			}
			if got := playersOf(o, key); got != 1 {
				t.Fatalf("the origin has %d players, want the edge's one pull", got)
			}
		})
	}
}

// TestNoPullAfterLocalPublishWithoutViewers: a publish on an edge that
// nobody watched there ends; its own forward is no viewer, so nothing is
// pulled.
func TestNoPullAfterLocalPublishWithoutViewers(t *testing.T) {
	o := startOrigin(t)
	const key = "live/unwatched"
	e, edge := startEdge(t, "127.0.0.1:0", originSet(t, o), 300*time.Millisecond)
	local := startLocalPublisher(t, e.addr, key, 2)
	waitFor(t, 5*time.Second, "forwarded to the origin", func() bool { return liveOn(o, key) })
	local.drop()
	time.Sleep(500 * time.Millisecond)
	if n := edge.Stats.PullsStarted.Load(); n != 0 {
		t.Fatalf("%d pulls started for a stream nobody watches here", n)
	}
}

// drain empties s.
func drain(s recordingSink) {
	for {
		select {
		case <-s:
		default:
			return
		}
	}
}

// firstTag waits up to within for the next frame and wants it tagged tag.
func firstTag(t *testing.T, s recordingSink, tag byte, within time.Duration) {
	t.Helper()
	select {
	case got := <-s:
		if got != tag {
			t.Fatalf("the next frame came from %d, want %d", got, tag)
		}
	case <-time.After(within):
		t.Fatalf("no frame within %s", within)
	}
}

// TestPullAfterEncoderMovesToOrigin: an encoder publishes on an edge (the
// edge forwards it to the origin) and then leaves it for the origin
// itself; the edge's player stays and gets the origin's stream through the
// resumed pull, and never the edge's own last frames looped back through
// the origin.
func TestPullAfterEncoderMovesToOrigin(t *testing.T) {
	for _, clean := range []bool{false, true} {
		t.Run(map[bool]string{false: "drop", true: "unpublish"}[clean], func(t *testing.T) {
			o := startOrigin(t)
			const key = "live/moves"
			e, _ := startEdge(t, "127.0.0.1:0", originSet(t, o), 300*time.Millisecond)
			local := startLocalPublisher(t, e.addr, key, 2)
			waitFor(t, 5*time.Second, "forwarded to the origin", func() bool { return liveOn(o, key) })
			tags := playTags(t, e.addr, key)
			waitTag(t, tags, 2, 5*time.Second)
			local.halt()
			time.Sleep(100 * time.Millisecond)
			drain(tags)
			if clean {
				local.unpublish(t)
			} else {
				local.drop()
			}
			waitFor(t, 2*time.Second, "the origin lets go of the edge's forward", func() bool { return !liveOn(o, key) })
			o.publish(t, key, 3)
			firstTag(t, tags, 3, 4*time.Second)
		})
	}
}
