package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/rtmp"
)

// startFloor runs a floor server on a free loopback port until the test
// ends and returns it with its address.
func startFloor(t *testing.T, cfg FloorConfig) (*floor, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	f, err := newFloor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunFloor: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("RunFloor did not return within 5 s of its context's end")
		}
	})
	return f, ln.Addr().String()
}

// recorder is a player that parses everything it gets and checks the
// stream: sequence headers before any frame of their track, per-track
// timestamps never going back.
type recorder struct {
	bytes  atomic.Uint64 // audio and video payload bytes
	frames atomic.Uint64 // audio and video messages that are not headers
	seqs   atomic.Uint64 // sequence headers
	mu     sync.Mutex
	bad    []string
	done   chan struct{}
	err    error
}

func (r *recorder) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) < 10 {
		r.bad = append(r.bad, fmt.Sprintf(format, args...))
	}
}

// problems returns what the player found wrong so far.
func (r *recorder) problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bad...)
}

// playRecord plays url with the project's client until the test ends.
func playRecord(t *testing.T, url string) *recorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c, err := rtmp.Dial(ctx, url)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 5 * time.Second
	if err := c.Play(); err != nil {
		c.Close()
		t.Fatal(err)
	}
	r := &recorder{done: make(chan struct{})}
	go r.read(c)
	t.Cleanup(func() { c.Close(); <-r.done })
	return r
}

func (r *recorder) read(c *rtmp.Client) {
	defer close(r.done)
	var vseq, aseq bool
	lastV, lastA := int64(-1), int64(-1)
	for {
		m, err := c.ReadMessage()
		if err != nil {
			r.err = err
			return
		}
		switch m.Type {
		case rtmp.TypeVideo, rtmp.TypeAudio:
		default:
			continue
		}
		r.bytes.Add(uint64(len(m.Payload)))
		if rtmp.IsSequenceHeader(m.Type, m.Payload) {
			r.seqs.Add(1)
			if m.Type == rtmp.TypeVideo {
				vseq = true
			} else {
				aseq = true
			}
			continue
		}
		r.frames.Add(1)
		ts := int64(m.Timestamp)
		if m.Type == rtmp.TypeVideo {
			if !vseq {
				r.fail("video frame at %d ms before the video sequence header", ts)
			}
			if ts < lastV {
				r.fail("video timestamp %d after %d", ts, lastV)
			}
			lastV = ts
		} else {
			if !aseq {
				r.fail("audio frame at %d ms before the audio sequence header", ts)
			}
			if ts < lastA {
				r.fail("audio timestamp %d after %d", ts, lastA)
			}
			lastA = ts
		}
	}
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFloorDelivers(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
	}{
		{"per-message", 0},
		{"interval-50ms", 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, addr := startFloor(t, FloorConfig{Interval: tt.interval})
			base := "rtmp://" + addr + "/live/"
			// Stream 0 is live before its player joins (the player starts
			// from the join prefix); stream 1's player waits for its
			// publisher. Their rates differ, so crossed streams show.
			pub0, _ := publishUntil(t, base+"bench_0", synth.Config{Bitrate: 908000, Audio: true, GOP: 25})
			time.Sleep(300 * time.Millisecond)
			play0 := playRecord(t, base+"bench_0")
			play1 := playRecord(t, base+"bench_1")
			waitFor(t, 2*time.Second, "players registered", func() bool {
				return f.players("live/bench_0") == 1 && f.players("live/bench_1") == 1
			})
			pub1, _ := publishUntil(t, base+"bench_1", synth.Config{Bitrate: 2000000, Audio: true, GOP: 25})

			time.Sleep(500 * time.Millisecond)
			type pair struct {
				pub  *PublishStats
				play *recorder
			}
			pairs := []pair{{pub0, play0}, {pub1, play1}}
			start := make([][2]uint64, len(pairs))
			for i, p := range pairs {
				start[i] = [2]uint64{p.pub.Bytes.Load(), p.play.bytes.Load()}
			}
			time.Sleep(2 * time.Second)
			for i, p := range pairs {
				sent := p.pub.Bytes.Load() - start[i][0]
				got := p.play.bytes.Load() - start[i][1]
				ratio := float64(got) / float64(sent)
				t.Logf("stream %d: published %d bytes, played %d (%.3f)", i, sent, got, ratio)
				if sent == 0 || ratio < 0.8 || ratio > 1.2 {
					t.Errorf("stream %d: played %d bytes while %d were published: want within ±20%%", i, got, sent)
				}
				if p.play.seqs.Load() < 2 || p.play.frames.Load() < 50 {
					t.Errorf("stream %d: %d sequence headers, %d frames", i, p.play.seqs.Load(), p.play.frames.Load())
				}
				if bad := p.play.problems(); len(bad) > 0 {
					t.Errorf("stream %d: %v", i, bad)
				}
			}
		})
	}
}

// dialSmallBuffer connects with a receive buffer of a few KiB, set before
// the connection so the window the server sees is small from the start.
func dialSmallBuffer(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestFloorDropsSlowPlayer(t *testing.T) {
	f, addr := startFloor(t, FloorConfig{WriteTimeout: 300 * time.Millisecond})
	url := "rtmp://" + addr + "/live/slow"
	pub, _ := publishUntil(t, url, synth.Config{Bitrate: 8000000, Audio: true})
	normal := playRecord(t, url)

	// The slow player plays, then never reads again.
	conn := dialSmallBuffer(t, addr)
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	c := rtmp.NewClient(conn, "live", "slow", "rtmp://"+addr+"/live")
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	if err := c.Play(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "both players registered", func() bool { return f.players("live/slow") == 2 })
	waitFor(t, 5*time.Second, "slow player dropped", func() bool { return f.players("live/slow") == 1 })

	sent0, got0 := pub.Bytes.Load(), normal.bytes.Load()
	time.Sleep(time.Second)
	sent, got := pub.Bytes.Load()-sent0, normal.bytes.Load()-got0
	t.Logf("after the drop: published %d bytes in 1 s, the normal player got %d", sent, got)
	if float64(got) < 0.7*float64(sent) {
		t.Errorf("normal player got %d bytes while %d were published", got, sent)
	}
	select {
	case <-normal.done:
		t.Fatalf("normal player ended: %v", normal.err)
	default:
	}
	if n := f.players("live/slow"); n != 1 {
		t.Errorf("%d players left, want the normal one", n)
	}
	if bad := normal.problems(); len(bad) > 0 {
		t.Error(bad)
	}
}

func TestFloorRemovesPlayers(t *testing.T) {
	f, addr := startFloor(t, FloorConfig{Interval: 20 * time.Millisecond})
	url := "rtmp://" + addr + "/live/gone"
	_, stopPub := publishUntil(t, url, synth.Config{Audio: true})

	// A second publisher of the same stream is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	s, _ := synth.New(synth.Config{})
	if err := Publish(ctx, url, SynthSource(s), nil, nil); err == nil {
		t.Error("a second publisher of a live stream was accepted")
	}
	cancel()

	// Garbage ends that connection and nothing else: an HTTP request for a
	// handshake, and a handshake followed by chunks that make no sense.
	for i, garbage := range [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		{0xc4, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0xff, 0x7f, 0x00},
	} {
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		raw.SetDeadline(time.Now().Add(5 * time.Second))
		if i > 0 {
			if err := rtmp.ClientHandshake(raw); err != nil {
				t.Fatal(err)
			}
		}
		raw.Write(garbage)
		if _, err := io.Copy(io.Discard, raw); err != nil {
			t.Errorf("garbage %d: the floor did not close the connection: %v", i, err)
		}
		raw.Close()
	}

	// Players leave when they disconnect.
	stays := playRecord(t, url)
	c, err := rtmp.Dial(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Play(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "two players", func() bool { return f.players("live/gone") == 2 })
	c.Close()
	waitFor(t, 3*time.Second, "disconnected player removed", func() bool { return f.players("live/gone") == 1 })

	// The publisher leaving keeps the player, which gets the next
	// publisher's stream, sequence headers included.
	stopPub()
	time.Sleep(100 * time.Millisecond)
	if n := f.players("live/gone"); n != 1 {
		t.Fatalf("%d players after the publisher left, want 1", n)
	}
	seqs, frames := stays.seqs.Load(), stays.frames.Load()
	publishUntil(t, url, synth.Config{Audio: true})
	waitFor(t, 3*time.Second, "media from the second publisher", func() bool {
		return stays.seqs.Load() >= seqs+2 && stays.frames.Load() > frames+10
	})
	if bad := stays.problems(); len(bad) > 0 {
		// A new publisher restarts its timestamps: only the first
		// publisher's part must be clean.
		t.Logf("across publishers: %v", bad)
	}

	if f.srv.SessionCount() == 0 {
		t.Error("no sessions while a player and a publisher are connected")
	}
}

func TestFloorPendingCap(t *testing.T) {
	st := &floorStream{key: "live/cap"}
	payload := make([]byte, 10000)
	m := &rtmp.Message{Type: rtmp.TypeVideo, CSID: rtmp.CSIDVideo, StreamID: rtmp.MediaStreamID, Payload: payload}
	const maxPending = 64 << 10
	var dropped int
	for range 100 {
		dropped += st.add(m, nil, 4096, maxPending)
		if len(st.pending) > maxPending {
			t.Fatalf("%d pending bytes over a cap of %d", len(st.pending), maxPending)
		}
	}
	if dropped == 0 {
		t.Error("nothing dropped though nothing was flushed")
	}
	// What stays is whole messages: after a Set Chunk Size, it parses.
	var in bytes.Buffer
	cw := rtmp.NewChunkWriter(&in)
	if err := cw.SetChunkSize(4096); err != nil {
		t.Fatal(err)
	}
	cw.Flush()
	in.Write(st.pending)
	r := rtmp.NewChunkReader(&in, rtmp.DefaultLimits)
	n := 0
	for {
		got, err := r.ReadMessage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
		if got.Type == rtmp.TypeSetChunkSize {
			continue
		}
		if len(got.Payload) != len(payload) {
			t.Fatalf("message %d of %d bytes", n, len(got.Payload))
		}
		n++
	}
	if n == 0 {
		t.Error("nothing pending after the drop")
	}
}
