package main

import "testing"

// TestInteropEdgePlayersAcrossPublisherDrop is the interop suite's edge
// row: the same real players play from an edge (-origin) while ffmpeg
// publishes to its origin, is killed, comes back 3.5 s later and stops
// cleanly. The edge's single pull from the origin is what the players
// depend on, so they must keep their connections through the origin's
// grace, get the new publisher's frames from a keyframe, see one audio
// and one video stream, and be told the stream ended when the origin's
// publisher unpublishes (the edge passes the origin's UnpublishNotify on).
func TestInteropEdgePlayersAcrossPublisherDrop(t *testing.T) {
	clip := testClip(t)
	origin := startServer(t, "-io", "auto", "-publish-grace", "20s")
	edge := startServer(t, "-io", "auto", "-publish-grace", "20s", "-origin", "rtmp://"+origin.addr)
	playAcrossPublisherDrop(t, clip, origin, edge)
}
