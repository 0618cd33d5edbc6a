package main

// Fixtures of the interop suite: external processes bounded in time and
// killed with their process group, and readers of what each real player
// left behind (FLV files, ffmpeg's -progress, mpv's status line,
// GStreamer's caps).

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// extProc is an external program run for a test: in its own process
// group, killed with it at the latest when its time is up or the test
// ends.
type extProc struct {
	name string
	cmd  *exec.Cmd
	out  lockedBuffer // stdout and stderr
	done chan struct{}
	err  error
}

// nobody is the unprivileged user VLC runs as when the tests run as root
// (VLC refuses root).
var nobody = &syscall.Credential{Uid: 65534, Gid: 65534}

// startProc runs argv for at most limit. cred, when set, runs it as
// another user.
func startProc(t *testing.T, name string, limit time.Duration, cred *syscall.Credential, env []string, argv ...string) *extProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	p := &extProc{name: name, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	p.cmd.Cancel = func() error { return syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) }
	p.cmd.WaitDelay = 2 * time.Second
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		defer close(p.done)
		defer cancel()
		p.err = p.cmd.Wait()
	}()
	t.Cleanup(func() { p.kill(); <-p.done })
	return p
}

// signal sends sig to the process group.
func (p *extProc) signal(sig syscall.Signal) { syscall.Kill(-p.cmd.Process.Pid, sig) }

// kill ends the process group at once.
func (p *extProc) kill() {
	select {
	case <-p.done:
	default:
		p.signal(syscall.SIGKILL)
	}
}

// exited reports whether the process has ended.
func (p *extProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitExit waits up to d for the process to end by itself.
func (p *extProc) waitExit(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// ffmpegLoopPublisher publishes clip in real time, looped, as a 24/7
// encoder would; -c copy, since encoding costs CPU (DESIGN.md).
func ffmpegLoopPublisher(t *testing.T, clip, url string) *extProc {
	t.Helper()
	return startProc(t, "ffmpeg publisher", 90*time.Second, nil, nil,
		"ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "flv", url)
}

// ffmpegRecorder is an ffmpeg player copying a stream into an FLV file,
// with its warnings kept. It copies the stream into MPEG-TS as well, whose
// muxer (as MP4's, and unlike FLV's, which lets a timestamp repeat) wants
// every track's timestamps strictly increasing, as HLS and recordings do.
type ffmpegRecorder struct {
	name, out string
	proc      *extProc
}

// startFFmpegRecorder plays url with ffmpeg into a file of the test's.
func startFFmpegRecorder(t *testing.T, name, url string) *ffmpegRecorder {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".flv")
	return &ffmpegRecorder{name: name, out: out, proc: startProc(t, "ffmpeg "+name+" player", 90*time.Second, nil, nil,
		"ffmpeg", "-hide_banner", "-loglevel", "warning", "-rw_timeout", "20000000", "-i", url,
		"-c", "copy", "-f", "flv", "-y", out, "-c", "copy", "-f", "mpegts", "-y", strings.TrimSuffix(out, ".flv")+".ts")}
}

// videoFrames is how many video frames the recording holds so far.
func (r *ffmpegRecorder) videoFrames() int {
	f, _ := readFLV(r.out)
	return f.video
}

// waitVideo waits until the recording holds n video frames.
func (r *ffmpegRecorder) waitVideo(t *testing.T, n int) {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("%s records %d video frames", r.name, n), func() bool { return r.videoFrames() >= n })
}

// nonMonotonic is what ffmpeg says of a track whose timestamp repeats or
// goes back: its own warning, and the muxer's error.
var nonMonotonic = []string{"Non-monotonous DTS", "non monotonically increasing dts"}

// finish stops ffmpeg as a user would (it ends its file) and checks that
// it saw no timestamp of a track repeat or go back, and recorded h264 and
// AAC with at least video video frames.
func (r *ffmpegRecorder) finish(t *testing.T, video int) {
	t.Helper()
	r.proc.signal(syscall.SIGINT)
	if !r.proc.waitExit(5 * time.Second) {
		t.Errorf("%s: ffmpeg did not end at SIGINT", r.name)
	}
	log := r.proc.out.String()
	for _, bad := range nonMonotonic {
		if strings.Contains(log, bad) {
			t.Errorf("%s: ffmpeg saw a track's timestamps repeat or go back (%q):\n%s", r.name, bad, log)
			break
		}
	}
	if p := ffprobe(t, r.out); len(p.codecs) != 2 || p.videoPackets < video {
		t.Errorf("%s: recorded %+v, want h264+aac and ≥ %d video packets", r.name, p, video)
	}
}

// flvFacts is what an FLV file holds.
type flvFacts struct {
	video, audio int  // frames, sequence headers not counted
	other        int  // tags that are neither audio, video nor script data
	firstKey     bool // the first video frame is a keyframe
	videoSeq     bool // an AVC sequence header came before the first frame
	audioSeq     bool
}

// readFLV counts the tags of an FLV file, which may still be growing: a
// tag cut short at the end is not counted.
func readFLV(path string) (flvFacts, error) {
	var f flvFacts
	data, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if len(data) < 13 || string(data[:3]) != "FLV" {
		return f, nil // nothing written yet
	}
	p := data[binary.BigEndian.Uint32(data[5:9])+4:]
	for len(p) >= 11 {
		size := int(p[1])<<16 | int(p[2])<<8 | int(p[3])
		if len(p) < 11+size+4 {
			break
		}
		body := p[11 : 11+size]
		switch p[0] & 0x1f {
		case 9:
			if len(body) < 2 {
				break
			}
			if body[0]&0x0f == 7 && body[1] != 1 { // AVC sequence header or end of sequence
				f.videoSeq = f.videoSeq || body[1] == 0
				break
			}
			if f.video == 0 {
				f.firstKey = body[0]>>4 == 1
			}
			f.video++
		case 8:
			if len(body) >= 2 && body[0]>>4 == 10 && body[1] == 0 { // AAC sequence header
				f.audioSeq = true
				break
			}
			f.audio++
		case 18:
		default:
			f.other++
		}
		p = p[11+size+4:]
	}
	return f, nil
}

// progressFrames is the last frame count ffmpeg wrote to a -progress file.
func progressFrames(path string) int {
	data, _ := os.ReadFile(path)
	m := regexp.MustCompile(`(?m)^frame=(\d+)$`).FindAllSubmatch(data, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(string(m[len(m)-1][1]))
	return n
}

// inputStreams counts the kinds of stream ffmpeg or ffprobe listed for
// input #0 in its log ("Stream #0:1: Audio: aac …").
func inputStreams(log string) map[string]int {
	kinds := map[string]int{}
	if i := strings.Index(log, "Output #0"); i >= 0 {
		log = log[:i]
	}
	for _, m := range regexp.MustCompile(`Stream #0:\d+[^:]*: (\w+):`).FindAllStringSubmatch(log, -1) {
		kinds[m[1]]++
	}
	return kinds
}

// mpvStatus is the newest "STATUS frames tracks types" line of mpv's
// --term-status-msg (see mpvArgs).
func mpvStatus(out string) (frames, tracks int, types string) {
	m := regexp.MustCompile(`STATUS (\d+) (\d+) ([a-z,]*)`).FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0, 0, ""
	}
	last := m[len(m)-1]
	frames, _ = strconv.Atoi(last[1])
	tracks, _ = strconv.Atoi(last[2])
	return frames, tracks, last[3]
}

// gstQueueCaps maps each named queue of a gst-launch -v pipeline to the
// media type its sink pad took ("qv": "video/x-h264", …).
func gstQueueCaps(out string) map[string]string {
	caps := map[string]string{}
	for _, m := range regexp.MustCompile(`GstQueue:(\w+)\.GstPad:sink: caps = ([\w/-]+)`).FindAllStringSubmatch(out, -1) {
		caps[m[1]] = m[2]
	}
	return caps
}

// probeFacts is what ffprobe reads of a (possibly growing) file.
type probeFacts struct {
	kinds    map[string]int // streams by codec_type
	video    int            // video packets
	firstKey bool
}

func probeFile(path string) (probeFacts, error) {
	f := probeFacts{kinds: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "stream=codec_type:packet=codec_type,flags",
		"-of", "json", path).Output()
	if err != nil {
		return f, fmt.Errorf("ffprobe %s: %v", path, err)
	}
	var doc struct {
		Streams, Packets []struct {
			CodecType string `json:"codec_type"`
			Flags     string `json:"flags"`
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return f, fmt.Errorf("ffprobe %s: %v", path, err)
	}
	for _, s := range doc.Streams {
		f.kinds[s.CodecType]++
	}
	for _, p := range doc.Packets {
		if p.CodecType != "video" {
			continue
		}
		if f.video == 0 {
			f.firstKey = strings.HasPrefix(p.Flags, "K")
		}
		f.video++
	}
	return f, nil
}
