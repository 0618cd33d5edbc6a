package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/fanout/websocket"
	"github.com/bbllive/bbllive/rtmp"
)

// mp4URL is the live fMP4 address of a test server's stream.
func (s *testServer) mp4URL(name string) string { return "http://" + s.http + "/live/" + name + ".mp4" }

// TestFMP4FFprobe publishes a clip with ffmpeg and reads the live fMP4
// stream with ffprobe over HTTP, on both transports: exactly one H.264 and
// one AAC stream, frames decoded, and the answer's headers.
func TestFMP4FFprobe(t *testing.T) {
	eachTransport(t, func(t *testing.T) {
		clip := testClip(t)
		srv := startServer(t)
		// Looped: ffprobe's analysis plus its 3 s read can outlast one pass
		// of the 6 s clip on a loaded machine, and a live stream that ends
		// mid-read is "Stream ends prematurely", not a finding.
		loopPublish(t, clip, srv.url("mp"))
		url := srv.mp4URL("mp")
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 8)
		_, err = io.ReadFull(resp.Body, head)
		resp.Body.Close()
		if err != nil || resp.Header.Get("Content-Type") != "video/mp4" || resp.Header.Get("Access-Control-Allow-Origin") != "*" || string(head[4:]) != "ftyp" {
			t.Fatalf("GET %s: %s %v, body starts % x (%v)", url, resp.Status, resp.Header, head, err)
		}
		out, err := exec.Command("ffprobe", "-v", "error", "-rw_timeout", "20000000", "-read_intervals", "%+3", "-count_frames",
			"-show_entries", "stream=codec_type,codec_name,width,height,nb_read_frames", "-of", "csv=p=0", url).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe %s: %v: %s", url, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Logf("ffprobe %s: %q", url, lines)
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "h264,video,320,240,") || !strings.HasPrefix(lines[1], "aac,audio,") {
			t.Fatalf("ffprobe found %q, want exactly h264 320x240 and aac", lines)
		}
		var frames int
		fmt.Sscanf(lines[0][strings.LastIndex(lines[0], ",")+1:], "%d", &frames)
		if frames < 40 {
			t.Errorf("ffprobe decoded %d video frames in 3 s", frames)
		}
	})
}

// readFMP4 reads a live fMP4 answer's top-level boxes until n fragments
// (moof) have arrived and returns their bytes.
func readFMP4(r io.Reader, n int) ([]byte, error) {
	var out []byte
	for moofs := 0; moofs < n; {
		var h [8]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return out, fmt.Errorf("after %d fragments: %w", moofs, err)
		}
		size := binary.BigEndian.Uint32(h[:])
		if size < 8 || size > 16<<20 {
			return out, fmt.Errorf("box %q of %d bytes", h[4:], size)
		}
		b := make([]byte, size)
		copy(b, h[:])
		if _, err := io.ReadFull(r, b[8:]); err != nil {
			return out, err
		}
		if len(out) == 0 && string(h[4:]) != "ftyp" {
			return out, fmt.Errorf("the stream starts with %q, not the init segment", h[4:])
		}
		if string(h[4:]) == "moof" {
			moofs++
		}
		out = append(out, b...)
	}
	return out, nil
}

// maskPRFT zeroes the wall-clock time of every top-level prft box of b (a
// copy).
func maskPRFT(b []byte) []byte {
	b = bytes.Clone(b)
	for off := 0; off+8 <= len(b); {
		size := int(binary.BigEndian.Uint32(b[off:]))
		if size < 8 {
			break
		}
		if string(b[off+4:off+8]) == "prft" && off+24 <= len(b) {
			clear(b[off+16 : off+24])
		}
		off += size
	}
	return b
}

// TestFMP4ByteIdentity: two fMP4 players and a WebSocket fMP4 player that
// joined before the publisher get the same bytes (the WebSocket one in
// binary frames, one box group per frame), on both transports.
func TestFMP4ByteIdentity(t *testing.T) {
	eachTransport(t, func(t *testing.T) {
		srv := startServer(t, "-publish-grace", "2s")
		pub := startStepPublisher(t, srv.url("fid"))
		type result struct {
			b   []byte
			err error
		}
		results := make(chan result, 2)
		for range 2 {
			go func() {
				resp, err := http.Get(srv.mp4URL("fid"))
				if err != nil {
					results <- result{nil, err}
					return
				}
				defer resp.Body.Close()
				b, err := readFMP4(resp.Body, 100)
				results <- result{b, err}
			}()
		}
		w := dialWS(t, srv.http, "/live/fid.mp4")
		waitFor(t, 10*time.Second, "three players", func() bool { return playerCount(t, srv, "live/fid") == 3 })
		if err := pub.frames(150); err != nil {
			t.Fatal(err)
		}
		var got [][]byte
		for range 2 {
			r := <-results
			if r.err != nil {
				t.Fatal(r.err)
			}
			got = append(got, r.b)
		}
		if !bytes.Equal(got[0], got[1]) {
			t.Fatalf("two fMP4 players got different bytes (%d and %d)", len(got[0]), len(got[1]))
		}
		var ws []byte
		for len(ws) < len(got[0]) {
			op, p, err := w.next()
			if err != nil || op != websocket.OpBinary {
				t.Fatalf("WebSocket fMP4 after %d bytes: op %d, %v", len(ws), op, err)
			}
			ws = append(ws, p...)
		}
		// Each format has its own encoder, which stamps its fragments'
		// prft with the wall clock when it cut them: the rest is the same.
		if !bytes.Equal(maskPRFT(ws[:len(got[0])]), maskPRFT(got[0])) {
			t.Fatal("the WebSocket fMP4 player's frames do not carry the same boxes as HTTP")
		}
		t.Logf("%d bytes (init + 100 fragments) identical for two HTTP and one WebSocket fMP4 player", len(got[0]))
	})
}

// publishSynth publishes d of the synthetic stream of cfg in real time,
// then drops the connection (no unpublish: the stream
// keeps its players for the publish grace).
func publishSynth(t *testing.T, url string, cfg synth.Config, d time.Duration) {
	t.Helper()
	src, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := rtmp.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		m, at := src.Next()
		if at > d {
			break
		}
		time.Sleep(time.Until(start.Add(at)))
		if err := c.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFMP4PublisherReconnect: an fMP4 player stays through a publisher
// that drops and comes back with another picture size: it gets a second
// init segment with the new size, then fragments whose times go on from
// the first publisher's, on both transports.
func TestFMP4PublisherReconnect(t *testing.T) {
	eachTransport(t, func(t *testing.T) {
		srv := startServer(t, "-publish-grace", "10s")
		type result struct {
			b   []byte
			err error
		}
		done := make(chan result, 1)
		go func() {
			resp, err := http.Get(srv.mp4URL("re"))
			if err != nil {
				done <- result{nil, err}
				return
			}
			defer resp.Body.Close()
			b, err := readFMP4(resp.Body, 60)
			done <- result{b, err}
		}()
		publishSynth(t, srv.url("re"), synth.Config{Width: 320, Height: 240, GOP: 10, Audio: true}, time.Second)
		waitFor(t, 10*time.Second, "the publisher gone", func() bool { return !streamLive(t, srv.http, "live/re") })
		publishSynth(t, srv.url("re"), synth.Config{Width: 640, Height: 360, GOP: 10, Audio: true}, 2*time.Second)
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		var widths []int
		var lastTFDT, back uint64
		for off := 0; off+8 <= len(r.b); {
			size := int(binary.BigEndian.Uint32(r.b[off:]))
			box := r.b[off : off+size]
			switch string(box[4:8]) {
			case "moov":
				i := bytes.Index(box, []byte("tkhd"))
				widths = append(widths, int(binary.BigEndian.Uint16(box[i+4+76:]))) // tkhd width, 16.16
			case "moof":
				// The first traf's tfhd names its track just before its tfdt.
				i := bytes.Index(box, []byte("tfdt"))
				tfdt, video := binary.BigEndian.Uint64(box[i+8:]), binary.BigEndian.Uint32(box[i-8:]) == 1
				switch {
				case !video:
				case tfdt < lastTFDT:
					back++
				default:
					lastTFDT = tfdt
				}
			}
			off += size
		}
		if len(widths) != 2 || widths[0] != 320 || widths[1] != 640 {
			t.Fatalf("init segments of widths %v, want 320 then 640", widths)
		}
		if back > 0 {
			t.Errorf("%d fragments went back in time across the reconnect", back)
		}
	})
}
