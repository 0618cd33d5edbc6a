package main

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// failoverCluster is two origins and two edges that list both: a stream
// published on edge 1 is forwarded to the origin that owns it, and edge 2
// pulls it from there, so stopping that origin is a failover for edge 2's
// players.
type failoverCluster struct {
	origins      [2]*testServer
	stops        [2]context.CancelFunc
	edge1, edge2 *testServer
}

func startFailoverCluster(t *testing.T) *failoverCluster {
	t.Helper()
	c := &failoverCluster{}
	for i := range c.origins {
		srv, stop, done := startServerCtxWith(t, nil)
		stopAtCleanup(t, stop, done)
		c.origins[i], c.stops[i] = srv, stop
	}
	origins := "rtmp://" + c.origins[0].addr + ",rtmp://" + c.origins[1].addr
	c.edge1 = startServer(t, "-origin", origins)
	c.edge2 = startServer(t, "-origin", origins)
	return c
}

// stopOwner stops the origin the stream ("app/name") is live on, and fails
// the test when neither has it.
func (c *failoverCluster) stopOwner(t *testing.T, stream string) {
	t.Helper()
	for i, o := range c.origins {
		if v, _ := series(scrape(t, o.http), "bbllive_stream_live", "stream="+stream); v == 1 {
			c.stops[i]() // its connections close
			return
		}
	}
	t.Fatalf("neither origin has %s, which edge 1 forwards", stream)
}

// countingProxy passes TCP connections on to an upstream address and
// counts what it carries each way: what a server's dialed connection read
// and sent, taken on the wire, not from the server's own word.
type countingProxy struct {
	addr string
	// down is what it wrote to the connections it accepted (what the
	// dialing side was sent), up what it wrote to upstream.
	down, up atomic.Int64
	// ended counts the accepted connections whose dialer closed them.
	ended atomic.Int64
}

// countWriter counts what is written through it.
type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// startCountingProxy proxies 127.0.0.1:0 to upstream until the test ends.
func startCountingProxy(t *testing.T, upstream string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.carry(t, c, upstream) })
		}
	})
	return p
}

// carry passes c on to upstream until either side ends or the test does.
func (p *countingProxy) carry(t *testing.T, c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		t.Errorf("proxy to %s: %v", upstream, err)
		return
	}
	defer u.Close()
	stop := context.AfterFunc(t.Context(), func() { c.Close(); u.Close() })
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(countWriter{c, &p.down}, u)
		c.Close()
	}()
	io.Copy(countWriter{u, &p.up}, c)
	p.ended.Add(1)
	u.Close()
	<-done
}

// waitQuiet waits until nothing has passed either way for half a second:
// what one side sent, the other has read.
func (p *countingProxy) waitQuiet(t *testing.T) {
	t.Helper()
	last := [2]int64{-1, -1}
	waitFor(t, 10*time.Second, "the proxied connections to go quiet", func() bool {
		time.Sleep(500 * time.Millisecond)
		now := [2]int64{p.down.Load(), p.up.Load()}
		quiet := now == last
		last = now
		return quiet
	})
}
