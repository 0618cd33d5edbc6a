package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/flv"
	"github.com/bbllive/bbllive/rtmp"
)

// flvURL is the HTTP-FLV address of a test server's stream.
func (s *testServer) flvURL(name string) string { return "http://" + s.http + "/live/" + name + ".flv" }

// TestHTTPFLVRealPlayers publishes a clip with ffmpeg, looped, and plays
// it over HTTP-FLV with real players at once, each a subtest that skips
// naming what is missing: ffprobe must list exactly one video and one
// audio stream; ffmpeg (-c copy of 5 s to MKV, its log at
// ffmpegCheckLogLevel, which includes info's list of input streams) must
// read exactly those two, see no timestamp repeat or go back and start at
// a keyframe; VLC's recording of 5 s must hold exactly video and audio, a
// keyframe first; GStreamer must decode 100 video frames and 100 audio
// buffers through souphttpsrc ! flvdemux.
func TestHTTPFLVRealPlayers(t *testing.T) {
	eachTransport(t, func(t *testing.T) {
		clip := testClip(t)
		srv := startServer(t)
		ffmpegLoopPublisher(t, clip, srv.url("hf"))
		waitFor(t, 10*time.Second, "the publisher", func() bool { return srv.logs.Count("msg=publishing") >= 1 })
		url := srv.flvURL("hf")
		dir := t.TempDir()
		players := append(startOneShots(t, url, dir),
			startVLCOneShot(t, url, 5*time.Second, 4*clipFPS),
			startGstFLVDecode(t, url, 4*clipFPS))
		for _, p := range players {
			t.Run(p.name, p.check)
		}
	})
}

// flvTags reads an HTTP-FLV answer's body: its raw bytes and the tags.
type flvCapture struct {
	raw   []byte
	flags uint8
	tags  []flv.Tag
}

// httpFLVPlay requests url and reads until n video frames (not sequence
// headers) have arrived.
func httpFLVPlay(url string, n int) (*flvCapture, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/x-flv" {
		return nil, fmt.Errorf("status %s, content type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	var raw bytes.Buffer
	fr, err := flv.NewReader(io.TeeReader(resp.Body, &raw))
	if err != nil {
		return nil, err
	}
	c := &flvCapture{flags: fr.Flags()}
	frames := 0
	for frames < n {
		tag, err := fr.Next()
		if err != nil {
			return c, fmt.Errorf("after %d frames: %w", frames, err)
		}
		tc := *tag
		tc.Data = append([]byte(nil), tag.Data...)
		c.tags = append(c.tags, tc)
		if tag.Type == flv.TagVideo && !rtmp.IsVideoSequenceHeader(tag.Data) {
			frames++
		}
	}
	// Exactly the bytes of the tags read: the reader reads ahead.
	size := 13
	for _, tg := range c.tags {
		size += 11 + len(tg.Data) + 4
	}
	c.raw = raw.Bytes()[:size]
	return c, nil
}

// TestHTTPFLVByteIdentity: two HTTP-FLV players get the same bytes, and
// their tags are what an RTMP player of the same stream decodes to.
func TestHTTPFLVByteIdentity(t *testing.T) {
	eachTransport(t, func(t *testing.T) {
		srv := startServer(t, "-publish-grace", "2s")
		pub := startStepPublisher(t, srv.url("id"))
		type result struct {
			c   *flvCapture
			err error
		}
		results := make(chan result, 2)
		for range 2 {
			go func() {
				c, err := httpFLVPlay(srv.flvURL("id"), 100)
				results <- result{c, err}
			}()
		}
		rtmpMsgs := make(chan []*rtmp.Message, 1)
		go func() { rtmpMsgs <- rtmpMedia(t, srv, "id", 100) }()
		waitFor(t, 10*time.Second, "three players", func() bool { return playerCount(t, srv, "live/id") == 3 })
		if err := pub.frames(150); err != nil {
			t.Fatal(err)
		}
		var caps []*flvCapture
		for range 2 {
			r := <-results
			if r.err != nil {
				t.Fatal(r.err)
			}
			caps = append(caps, r.c)
		}
		if !bytes.Equal(caps[0].raw, caps[1].raw) {
			t.Errorf("two HTTP-FLV players got different bytes (%d and %d)", len(caps[0].raw), len(caps[1].raw))
		}
		if caps[0].flags != flv.FlagAudio|flv.FlagVideo {
			t.Errorf("FLV header flags %#x, want audio and video", caps[0].flags)
		}
		msgs := <-rtmpMsgs
		tags := caps[0].tags
		if len(msgs) < len(tags) {
			t.Fatalf("RTMP player decoded %d media messages, HTTP-FLV player %d tags", len(msgs), len(tags))
		}
		for i, tg := range tags {
			m := msgs[i]
			if m.Type != tg.Type || m.Timestamp != tg.Timestamp || !bytes.Equal(m.Payload, tg.Data) {
				t.Fatalf("tag %d: HTTP-FLV type %d ts %d %d bytes, RTMP type %d ts %d %d bytes",
					i, tg.Type, tg.Timestamp, len(tg.Data), m.Type, m.Timestamp, len(m.Payload))
			}
		}
		t.Logf("%d tags identical over HTTP-FLV and RTMP; %d bytes identical for two HTTP-FLV players", len(tags), len(caps[0].raw))
	})
}

// playerCount reads a stream's players from /api/streams.
func playerCount(t *testing.T, srv *testServer, key string) int {
	var rows []streamRow
	getJSON(t, srv.http, "/api/streams", &rows)
	for _, r := range rows {
		if r.Stream == key {
			return r.Players
		}
	}
	return 0
}

// rtmpMedia plays name over RTMP and returns its first media messages, up
// to n video frames.
func rtmpMedia(t *testing.T, srv *testServer, name string, n int) []*rtmp.Message {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := rtmp.Dial(ctx, srv.url(name))
	if err != nil {
		t.Error(err)
		return nil
	}
	defer c.Close()
	if err := c.Play(); err != nil {
		t.Error(err)
		return nil
	}
	var out []*rtmp.Message
	for frames := 0; frames < n; {
		m, err := c.ReadMessage()
		if err != nil {
			t.Errorf("rtmp player: %v", err)
			return out
		}
		switch {
		case m.Type == rtmp.TypeAudio, m.Type == rtmp.TypeVideo:
		case m.Type == rtmp.TypeDataAMF0 && bytes.Contains(m.Payload, []byte("onMetaData")):
		default:
			continue // |RtmpSampleAccess, status, control: RTMP's own
		}
		mc := *m
		mc.Payload = append([]byte(nil), m.Payload...)
		out = append(out, &mc)
		if m.Type == rtmp.TypeVideo && !rtmp.IsVideoSequenceHeader(m.Payload) {
			frames++
		}
	}
	return out
}

// stepPublisher publishes headers at once and frames when asked, so that
// every player can be attached before the first keyframe.
type stepPublisher struct{ c *rtmp.Client }

func startStepPublisher(t *testing.T, url string) *stepPublisher {
	t.Helper()
	p := &stepPublisher{c: dialPublisher(t, url)}
	meta, _ := rtmp.AppendAMF0(nil, "@setDataFrame", "onMetaData", rtmp.ECMAArray{{Key: "width", Value: 320.0},
		{Key: "videocodecid", Value: 7.0}, {Key: "audiocodecid", Value: 10.0}})
	for _, m := range []struct {
		typ uint8
		b   []byte
	}{{rtmp.TypeDataAMF0, meta}, {rtmp.TypeVideo, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff}}, {rtmp.TypeAudio, []byte{0xaf, 0, 0x12, 0x10}}} {
		if err := p.send(m.typ, 0, m.b); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (p *stepPublisher) send(typ uint8, ts uint32, b []byte) error {
	if err := p.c.WriteMessage(&rtmp.Message{Type: typ, Timestamp: ts, Payload: b}); err != nil {
		return err
	}
	return p.c.Flush()
}

// frames sends n video frames (a keyframe every 25) with audio between;
// it stops at the first error (the test ended and closed the connection).
func (p *stepPublisher) frames(n int) error {
	for i := range n {
		ts := uint32(i * 40)
		frame := bytes.Repeat([]byte{byte(i)}, 3000+97*(i%13))
		frame[0], frame[1] = 0x27, 1
		if i%25 == 0 {
			frame[0] = 0x17
		}
		if err := p.send(rtmp.TypeVideo, ts, frame); err != nil {
			return err
		}
		if err := p.send(rtmp.TypeAudio, ts+3, append([]byte{0xaf, 1}, bytes.Repeat([]byte{byte(i)}, 200)...)); err != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// TestHTTPFLVRequests covers the answers that carry no stream.
func TestHTTPFLVRequests(t *testing.T) {
	srv := startServer(t, "-play-wait", "300ms")
	base := "http://" + srv.http
	for _, tc := range []struct {
		name, method, path string
		header             map[string]string
		status             int
		check              func(*http.Response) error
	}{
		{"unknown stream", "GET", "/live/none.flv", nil, http.StatusNotFound, nil},
		{"unknown stream HEAD", "HEAD", "/live/none.flv", nil, http.StatusNotFound, nil},
		{"unknown fMP4 stream", "GET", "/live/none.mp4", nil, http.StatusNotFound, nil},
		{"fMP4 preflight", "OPTIONS", "/live/none.mp4", map[string]string{"Origin": "http://other", "Access-Control-Request-Method": "GET"}, http.StatusNoContent, nil},
		{"preflight", "OPTIONS", "/live/none.flv", map[string]string{"Origin": "http://other", "Access-Control-Request-Method": "GET",
			"Access-Control-Request-Headers": "range"}, http.StatusNoContent, func(r *http.Response) error {
			if r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Access-Control-Allow-Headers") != "range" ||
				!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "GET") {
				return fmt.Errorf("preflight headers %v", r.Header)
			}
			return nil
		}},
		{"method", "POST", "/live/x.flv", nil, http.StatusMethodNotAllowed, nil},
		{"websocket version", "GET", "/live/x.flv", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket",
			"Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, http.StatusUpgradeRequired, nil},
		{"websocket key", "GET", "/live/x.flv", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket",
			"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "short"}, http.StatusBadRequest, nil},
		{"metrics still served", "GET", "/metrics", nil, http.StatusOK, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.path != "/metrics" && resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("no Access-Control-Allow-Origin on a %d", resp.StatusCode)
			}
			if tc.check != nil {
				if err := tc.check(resp); err != nil {
					t.Error(err)
				}
			}
		})
	}
	t.Run("bad requests closed", func(t *testing.T) {
		for _, tc := range []struct {
			name, req, want string
		}{
			{"garbage", "\x16\x03\x01 hello\r\n\r\n", "400"},
			{"oversized headers", "GET /live/x.flv HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", "431"},
		} {
			c, err := net.Dial("tcp", srv.http)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			go c.Write([]byte(tc.req))
			line, _ := bufio.NewReader(c).ReadString('\n')
			if !strings.Contains(line, tc.want) {
				t.Errorf("%s: answered %q, want %s", tc.name, line, tc.want)
			}
			if err := readUntilClosed(c, 5*time.Second); err != nil {
				t.Errorf("%s: connection not closed: %v", tc.name, err)
			}
			c.Close()
		}
	})
}
