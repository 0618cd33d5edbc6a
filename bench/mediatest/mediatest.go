// Package mediatest is shared test support for media tests: a real
// ffmpeg-encoded clip (libx264 yuv420p + AAC in FLV), encoded once per
// machine and reused, its tags read back as RTMP messages, and ffmpeg
// publishing it in a loop in real time: encode once, then -c copy, since
// encoding live in every test would take CPU from the server under test
// on a 2 vCPU machine.
package mediatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bbllive/bbllive/bench/flv"
	"github.com/bbllive/bbllive/rtmp"
)

// Clip describes a test clip. Every field is part of its file name, so
// clips of different shapes never collide.
type Clip struct {
	Seconds int // length
	FPS     int
	GOP     int // frames from one keyframe to the next
	Width   int
	Height  int
}

// Default is 4 s of 320x240 at 25 fps with a keyframe every second.
var Default = Clip{Seconds: 4, FPS: 25, GOP: 25, Width: 320, Height: 240}

// NeedFFmpeg skips t, naming what is missing, without ffmpeg and ffprobe.
func NeedFFmpeg(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install ffmpeg): %v", tool, err)
		}
	}
}

var encodeMu sync.Mutex

// Path returns the FLV file of c, encoding it with ffmpeg the first time
// on this machine (into the temporary folder, written atomically, so
// parallel test binaries share one encode).
func Path(t testing.TB, c Clip) string {
	t.Helper()
	NeedFFmpeg(t)
	encodeMu.Lock()
	defer encodeMu.Unlock()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("bbllive-clips-%d", os.Getuid()))
	path := filepath.Join(dir, fmt.Sprintf("clip-%ds-%dfps-g%d-%dx%d.flv", c.Seconds, c.FPS, c.GOP, c.Width, c.Height))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.CreateTemp(dir, "encoding-*.flv")
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("ffmpeg", "-y", "-loglevel", "error",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=%dx%d:rate=%d", c.Width, c.Height, c.FPS),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", fmt.Sprint(c.Seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-g", fmt.Sprint(c.GOP), "-keyint_min", fmt.Sprint(c.GOP), "-sc_threshold", "0",
		"-c:a", "aac", "-b:a", "64k", "-f", "flv", tmp.Name())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("encoding the test clip: %v: %s", err, out)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
	return path
}

// Messages reads an FLV file's audio, video and script tags as RTMP
// messages in file order.
func Messages(t testing.TB, path string) []*rtmp.Message {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := flv.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out []*rtmp.Message
	for {
		tag, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &rtmp.Message{Type: tag.Type, Timestamp: tag.Timestamp, Payload: append([]byte(nil), tag.Data...)})
	}
}

// Publish starts ffmpeg publishing the clip at path to url in real time,
// looping until the returned stop is called (or ctx ends). stop returns
// ffmpeg's stderr when it failed for another reason than being stopped.
func Publish(ctx context.Context, t testing.TB, path, url string) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", path,
		"-c", "copy", "-f", "flv", url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() {
			select {
			case err := <-done:
				result = fmt.Errorf("ffmpeg publisher exited early: %v: %s", err, stderr.String())
			default:
				cancel()
				<-done
			}
		})
		return result
	}
	t.Cleanup(func() { stop() })
	return stop
}
