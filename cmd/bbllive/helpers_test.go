package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/logtest"
	"github.com/bbllive/bbllive/rtmp"
	"github.com/bbllive/bbllive/uring"
)

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testTransports are the player transports the integration suite runs on.
var testTransports = []string{"netpoll", "uring"}

// eachTransport runs fn once per transport, as subtests named io=NAME;
// startServer reads the transport from that name.
func eachTransport(t *testing.T, fn func(t *testing.T)) {
	for _, tr := range testTransports {
		eachTransportOnly(t, tr, fn)
	}
}

// eachTransportOnly runs fn as the io=tr subtest.
func eachTransportOnly(t *testing.T, tr string, fn func(t *testing.T)) {
	t.Run("io="+tr, func(t *testing.T) {
		if tr == "uring" {
			if err := uring.Available(); err != nil {
				t.Skipf("io_uring transport not testable here: %v", err)
			}
		}
		fn(t)
	})
}

// waitingForPublisher is the server's log line for a player that asked for
// a name before its publisher came: tests count it to know their players
// are in place before they publish.
const waitingForPublisher = `msg="player waits for a publisher"`

// serverArgs are the flags of a test server: loopback ports chosen by the
// kernel, debug logs, players that wait up to 30 s for a publisher that
// the test starts after them, and the transport of the enclosing
// eachTransport subtest (netpoll outside one); opts come last and win.
func serverArgs(t *testing.T, opts []string) []string {
	io := "netpoll"
	for _, tr := range testTransports {
		if strings.Contains(t.Name(), "/io="+tr) {
			io = tr
		}
	}
	args := []string{"-listen", "127.0.0.1:0", "-http", "127.0.0.1:0", "-stats-interval", "0", "-log-level", "debug", "-play-wait", "30s", "-io", io}
	return append(args, opts...)
}

// testServer runs `bbllive serve` in-process on a free loopback port.
type testServer struct {
	addr string
	http string // bound HTTP address, "" when -http is off
	logs *logtest.Buffer
}

func (s *testServer) url(name string) string { return "rtmp://" + s.addr + "/live/" + name }

func startServer(t *testing.T, opts ...string) *testServer {
	t.Helper()
	return startServerWith(t, nil, opts...)
}

// startServerWith is startServer with setup applied to the configuration
// before it serves.
func startServerWith(t *testing.T, setup func(*serveConfig), opts ...string) *testServer {
	t.Helper()
	srv, cancel, done := startServerCtxWith(t, setup, opts...)
	stopAtCleanup(t, cancel, done)
	return srv
}

// stopAtCleanup stops an in-process server when the test ends and checks
// that it shut down cleanly and in time.
func stopAtCleanup(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not shut down within 10s")
		}
	})
}

// testLogWriter forwards server logs to the test log when -v is on.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// needFFmpeg skips a test when ffmpeg or ffprobe is missing, naming it.
func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install ffmpeg): %v", tool, err)
		}
	}
}

var (
	clipOnce sync.Once
	clipPath string
	clipErr  error
)

// Clip facts: 6 s of 320x240 at 25 fps with a keyframe every second, and
// 44.1 kHz AAC; encoded once per test binary.
const (
	clipSeconds = 6
	clipFPS     = 25
	clipGOP     = 25
)

func testClip(t *testing.T) string {
	t.Helper()
	needFFmpeg(t)
	clipOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bbllive-clip")
		if err != nil {
			clipErr = err
			return
		}
		clipPath = filepath.Join(dir, "clip.flv")
		cmd := exec.Command("ffmpeg", "-y", "-loglevel", "error",
			"-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=320x240:rate=%d", clipFPS),
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
			"-t", fmt.Sprint(clipSeconds), "-c:v", "libx264", "-preset", "ultrafast",
			"-g", fmt.Sprint(clipGOP), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv", clipPath)
		if out, err := cmd.CombinedOutput(); err != nil {
			clipErr = fmt.Errorf("encoding test clip: %v: %s", err, out)
		}
	})
	if clipErr != nil {
		t.Fatal(clipErr)
	}
	return clipPath
}

// ffmpegPublish publishes the clip in real time; the returned func waits.
func ffmpegPublish(t *testing.T, clip, url string) func() error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-loglevel", "error", "-re", "-i", clip, "-c", "copy", "-f", "flv", url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return func() error {
		defer cancel()
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("ffmpeg publisher: %v: %s", err, stderr.String())
		}
		return nil
	}
}

// ffmpegPlayer records the stream to an FLV file until the stream ends.
type ffmpegPlayer struct {
	out    string
	cmd    *exec.Cmd
	stderr bytes.Buffer
	cancel context.CancelFunc
}

func startFFmpegPlayer(t *testing.T, url, out string) *ffmpegPlayer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	p := &ffmpegPlayer{out: out, cancel: cancel}
	p.cmd = exec.CommandContext(ctx, "ffmpeg", "-y", "-loglevel", "error", "-rw_timeout", "20000000", "-i", url, "-c", "copy", "-f", "flv", out)
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return p
}

func (p *ffmpegPlayer) wait() error {
	defer p.cancel()
	if err := p.cmd.Wait(); err != nil {
		return fmt.Errorf("ffmpeg player: %v: %s", err, p.stderr.String())
	}
	return nil
}

// probeResult is what ffprobe says of a recorded file.
type probeResult struct {
	codecs       []string
	videoPackets int
	audioPackets int
	firstVideoK  bool
	lastVideoPTS float64
	firstVideoTS float64
}

func ffprobe(t *testing.T, file string) probeResult {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name",
		"-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var r probeResult
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Split(line, ","); len(f) == 2 {
			r.codecs = append(r.codecs, f[0]) // codec_name comes first
		}
	}
	pk, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=codec_type,pts_time,flags",
		"-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe packets %s: %v", file, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(pk)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		switch f[0] {
		case "video":
			var pts float64
			fmt.Sscan(f[1], &pts)
			if r.videoPackets == 0 {
				r.firstVideoK = strings.HasPrefix(f[2], "K")
				r.firstVideoTS = pts
			}
			r.videoPackets++
			r.lastVideoPTS = pts
		case "audio":
			r.audioPackets++
		}
	}
	return r
}

// playReport is what a Go player saw, checked message by message.
type playReport struct {
	metaBeforeMedia   bool
	videoSeqFirst     bool // AVC/HEVC sequence header before any video frame
	audioSeqFirst     bool
	firstFrameKey     bool
	monotonic         bool
	videoFrames       int
	audioFrames       int
	firstVideoTS      uint32
	lastVideoTS       uint32
	ttff              time.Duration // play → first video keyframe
	unpublishNotified int
	publishNotified   int
	videoCodec        string
	videoPayloads     [][]byte // kept when keep is set
	err               error
}

// goPlay plays url with the project's client until the stream is
// unpublished `stopAfter` times (or ctx ends), checking what arrives.
func goPlay(ctx context.Context, url string, stopAfter int, keep bool) *playReport {
	r := &playReport{monotonic: true}
	start := time.Now()
	c, err := rtmp.Dial(ctx, url)
	if err != nil {
		r.err = err
		return r
	}
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	if err := c.Play(); err != nil {
		r.err = err
		return r
	}
	var sawMeta, sawMedia, sawVSeq, sawASeq bool
	lastTS := map[uint8]uint32{}
	for {
		m, err := c.ReadMessage()
		if err != nil {
			if ctx.Err() == nil {
				r.err = err
			}
			return r
		}
		switch m.Type {
		case rtmp.TypeDataAMF0:
			if _, ok := rtmp.MetadataPayload(m.Payload); ok && !sawMedia {
				sawMeta = true
			}
		case rtmp.TypeCommandAMF0:
			cmd, err := rtmp.ParseCommand(m.Type, m.Payload)
			if err == nil && cmd.Name == "onStatus" && len(cmd.Args) > 0 {
				if o, ok := cmd.Args[0].(rtmp.Object); ok {
					switch o.String("code") {
					case rtmp.CodePlayUnpublish:
						r.unpublishNotified++
						if r.unpublishNotified >= stopAfter {
							return r
						}
					case rtmp.CodePlayPublishNotify:
						r.publishNotified++
					}
				}
			}
		case rtmp.TypeVideo, rtmp.TypeAudio:
			if !sawMedia {
				r.metaBeforeMedia = sawMeta
			}
			sawMedia = true
			if last, ok := lastTS[m.Type]; ok && m.Timestamp < last {
				r.monotonic = false
			}
			lastTS[m.Type] = m.Timestamp
			if m.Type == rtmp.TypeAudio {
				if rtmp.IsAudioSequenceHeader(m.Payload) {
					sawASeq = true
				} else {
					if r.audioFrames == 0 {
						r.audioSeqFirst = sawASeq
					}
					r.audioFrames++
				}
				continue
			}
			if keep {
				r.videoPayloads = append(r.videoPayloads, append([]byte(nil), m.Payload...))
			}
			if len(m.Payload) > 1 && m.Payload[0]&0x8f == 0x07 && m.Payload[1] == 2 {
				continue // AVC end of sequence: not a frame
			}
			if rtmp.IsVideoSequenceHeader(m.Payload) {
				sawVSeq = true
				r.videoCodec = rtmp.VideoCodec(m.Payload)
				continue
			}
			if r.videoFrames == 0 {
				r.videoSeqFirst = sawVSeq
				r.firstFrameKey = rtmp.IsKeyframe(m.Payload)
				r.firstVideoTS = m.Timestamp
				r.ttff = time.Since(start)
			}
			r.videoFrames++
			r.lastVideoTS = m.Timestamp
		}
	}
}

// isClosedByPeer reports whether err means the server closed the socket.
func isClosedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "connection reset")
}
