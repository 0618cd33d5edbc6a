package hls

import (
	"net/http"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/fanout/hls/hlstest"
)

// TestColdStartFromCachedGOP asks for the first playlist of a stream that
// has been live for a few GOPs, half-way through a GOP, with no remuxer
// running. Started from the stream's cached GOP, the remuxer completes
// its first segment at the next keyframe: the answer takes the rest of
// the GOP (half a GOP here). Started from the live feed, as it was, it
// had to wait for that keyframe and then a whole segment target more
// (1.5 GOPs here), so the bound of one GOP fails only if the cached GOP
// is not used; the half GOP of slack absorbs a loaded machine.
func TestColdStartFromCachedGOP(t *testing.T) {
	const gop = time.Second // 25 frames at 25 fps
	r := newRig(t, Config{SegmentTarget: gop})
	start := time.Now()
	pub := r.publish(t, "cold", synth.Config{GOP: 25, Audio: true}, 5*time.Second)
	r.waitLive(t, "live/cold")
	time.Sleep(time.Until(start.Add(2*gop + gop/2)))

	asked := time.Now()
	resp, body := r.get(t, "/live/cold/index.m3u8")
	took := time.Since(asked)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cold playlist: %s %s", resp.Status, body)
	}
	t.Logf("cold first playlist after %s (GOP %s)", took.Round(time.Millisecond), gop)
	if took >= gop {
		t.Errorf("cold first playlist took %s, want under one GOP (%s): the remuxer did not start from the cached GOP", took, gop)
	}
	pl, err := hlstest.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.Validate(); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	// The first segment is the GOP that was under way when the request
	// came: it starts at the keyframe published at 2 GOPs, before the
	// request, and its date-time says when that keyframe was live.
	first := pl.Segments[0]
	if d := time.Duration(first.Duration * float64(time.Second)); d < gop-100*time.Millisecond {
		t.Errorf("first segment lasts %s, want the whole GOP (%s): the cached frames are missing", d, gop)
	}
	live := start.Add(2 * gop)
	if off := first.PDT.Sub(live); off < -250*time.Millisecond || off > 250*time.Millisecond {
		t.Errorf("first segment's PROGRAM-DATE-TIME %s is %s off the time its keyframe was live (%s)",
			first.PDT.Format(time.StampMilli), off, live.Format(time.StampMilli))
	}
	if !first.PDT.Before(asked) {
		t.Errorf("first segment's PROGRAM-DATE-TIME %s is not before the request (%s)", first.PDT.Format(time.StampMilli), asked.Format(time.StampMilli))
	}
	if err := <-pub; err != nil {
		t.Fatal(err)
	}
}
