package main

import (
	"context"
	"testing"
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
