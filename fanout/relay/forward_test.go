package relay

import (
	"net"
	"testing"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// feed writes a synthetic H.264 stream into w every 20 ms until stop
// closes, every frame tagged tag; it reports the slowest WriteMessage.
func feed(w Sink, tag byte, stop <-chan struct{}) <-chan time.Duration {
	slowest := make(chan time.Duration, 1)
	go func() {
		var worst time.Duration
		defer func() { slowest <- worst }()
		w.WriteMessage(&rtmp.Message{Type: rtmp.TypeVideo, Payload: []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f}})
		for i := uint32(0); ; i++ {
			key := byte(0x27)
			if i%10 == 0 {
				key = 0x17
			}
			payload := make([]byte, 4096)
			copy(payload, []byte{key, 1, 0, 0, 0})
			payload[len(payload)-1] = tag
			start := time.Now()
			w.WriteMessage(&rtmp.Message{Type: rtmp.TypeVideo, Timestamp: i * 20, Payload: payload})
			worst = max(worst, time.Since(start))
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return slowest
}

// playTags plays key from addr and passes the tag of each video frame to
// the sink until the test ends.
func playTags(t *testing.T, addr, key string) recordingSink {
	t.Helper()
	c := dialPlayer(t, addr, key)
	sink := make(recordingSink, 64)
	go func() {
		for {
			m, err := c.ReadMessage()
			if err != nil {
				return
			}
			sink.WriteMessage(m)
		}
	}()
	return sink
}

// TestForwardReachesTargetAndSurvivesItsRestart: a forwarded stream plays
// on the target; the target dies and comes back on the same address, and
// the forwarder reconnects by itself.
func TestForwardReachesTargetAndSurvivesItsRestart(t *testing.T) {
	target := startOrigin(t)
	const key = "live/fwd"
	f := &Forwarder{URL: "rtmp://" + target.addr + "/" + key, MinBackoff: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	f.Start()
	defer f.Close()
	stop := make(chan struct{})
	slowest := feed(f, 3, stop)
	defer func() { close(stop); <-slowest }()

	waitTag(t, playTags(t, target.addr, key), 3, 5*time.Second)

	target.stop()
	again := restartOn(t, target.addr)
	waitTag(t, playTags(t, again.addr, key), 3, 5*time.Second)
	if n := f.Stats.Connects.Load(); n < 2 {
		t.Fatalf("%d connects, want a reconnect", n)
	}
	if f.Stats.Failures.Load() == 0 {
		t.Fatal("the target's death was not counted")
	}
}

// restartOn starts a new origin on addr, retrying while the old socket
// lets go of it.
func restartOn(t *testing.T, addr string) *testOrigin {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		o, err := tryOriginOn(t, addr)
		if err == nil {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestForwardNeverBlocksTheStream: a target that accepts the connection and
// then never reads must cost the local stream nothing: WriteMessage stays
// quick and what the target cannot take is dropped and counted.
func TestForwardNeverBlocksTheStream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts, holds, never reads
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	f := &Forwarder{URL: "rtmp://" + ln.Addr().String() + "/live/stuck", QueueBytes: 64 << 10}
	f.Start()
	stop := make(chan struct{})
	slowest := feed(f, 1, stop)
	time.Sleep(time.Second)
	close(stop)
	worst := <-slowest
	closed := make(chan struct{})
	go func() { f.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(8 * time.Second):
		t.Fatal("Close hung on a target that never reads")
	}
	if worst > 50*time.Millisecond {
		t.Errorf("a WriteMessage took %s", worst)
	}
	if f.Stats.Dropped.Load() == 0 {
		t.Error("nothing dropped though the target took nothing")
	}
}

// TestForwardRefusedTargetRetries: a target that refuses the publish (its
// name is taken) is retried with backoff, each refusal counted.
func TestForwardRefusedTargetRetries(t *testing.T) {
	target := startOrigin(t)
	const key = "live/taken"
	target.publish(t, key, 9)
	f := &Forwarder{URL: "rtmp://" + target.addr + "/" + key, MinBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	f.Start()
	defer f.Close()
	deadline := time.Now().Add(5 * time.Second)
	for f.Stats.Failures.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d failures in 5 s", f.Stats.Failures.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if f.Stats.Connected.Load() {
		t.Fatal("a refused publish counts as connected")
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"rtmp://h/live/x?token=secret":       "rtmp://h/live/…?…",
		"rtmp://u:p@h/live/x":                "rtmp://h/live/…",
		"rtmp://h/live/x":                    "rtmp://h/live/…",
		"rtmp://live.twitch.tv/app/live_1_k": "rtmp://live.twitch.tv/app/…",
		"rtmps://h/{app}/{name}?key=k":       "rtmps://h/{app}/{name}?…",
		"rtmps://h/app2/{name}_hd":           "rtmps://h/app2/{name}_hd",
		"rtmp://h:1935":                      "rtmp://h:1935",
		"rtmp://h/":                          "rtmp://h/",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestForwardStartsWithTheCurrentGOP: the keyframe a stream sent while its
// forward was still connecting reaches the target, which then plays at
// once instead of a GOP later. The stream here has one keyframe and no
// other for the test's length, so without it the target never plays.
func TestForwardStartsWithTheCurrentGOP(t *testing.T) {
	target := startOrigin(t)
	const key = "live/firstgop"
	f := &Forwarder{URL: "rtmp://" + target.addr + "/" + key}
	f.Start()
	defer f.Close()
	frame := func(kind, tag byte) *rtmp.Message {
		p := make([]byte, 512)
		copy(p, []byte{kind, 1, 0, 0, 0})
		p[len(p)-1] = tag
		return &rtmp.Message{Type: rtmp.TypeVideo, Payload: p}
	}
	f.WriteMessage(&rtmp.Message{Type: rtmp.TypeVideo, Payload: []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f}})
	f.WriteMessage(frame(0x17, 7)) // before the forward can have connected
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := uint32(1); ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			m := frame(0x27, 8)
			m.Timestamp = i * 20
			f.WriteMessage(m)
		}
	}()
	waitFor(t, 5*time.Second, "the forward to connect", f.Stats.Connected.Load)
	sink := playTags(t, target.addr, key)
	select {
	case tag := <-sink:
		if tag != 7 {
			t.Fatalf("the target's first frame is tagged %d, want the keyframe (7)", tag)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the target played nothing: the forward dropped the keyframe sent while it connected")
	}
	waitTag(t, sink, 8, 2*time.Second)
}

// TestForwardAudioOnlyStream: a radio stream has no keyframes; each of its
// audio frames is a place to start, so it is forwarded, not skipped
// forever waiting for a keyframe that never comes.
func TestForwardAudioOnlyStream(t *testing.T) {
	target := startOrigin(t)
	const key = "live/radio"
	f := &Forwarder{URL: "rtmp://" + target.addr + "/" + key}
	f.Start()
	defer f.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		f.WriteMessage(&rtmp.Message{Type: rtmp.TypeAudio, Payload: []byte{0xaf, 0, 0x12, 0x10}}) // AAC header
		for i := uint32(0); ; i++ {
			f.WriteMessage(&rtmp.Message{Type: rtmp.TypeAudio, Timestamp: i * 23, Payload: []byte{0xaf, 1, 0x21, byte(i)}})
			select {
			case <-stop:
				return
			case <-time.After(23 * time.Millisecond):
			}
		}
	}()
	waitFor(t, 5*time.Second, "the forward to connect", f.Stats.Connected.Load)
	c := dialPlayer(t, target.addr, key)
	c.Conn().SetDeadline(time.Now().Add(3 * time.Second)) // after Play, which sets its own
	frames := 0
	for frames < 10 {
		m, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d audio frames from the target: %v", frames, err)
		}
		if m.Type == rtmp.TypeAudio && len(m.Payload) > 1 && m.Payload[1] == 1 {
			frames++
		}
	}
}
