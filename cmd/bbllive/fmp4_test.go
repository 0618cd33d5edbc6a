package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/websocket"
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
		published := ffmpegPublish(t, clip, srv.url("mp"))
		defer published()
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
