package main

// Fixtures of the interop suite: external processes bounded in time and
// killed with their process group, and readers of what each real player
// left behind (FLV files, ffmpeg's -progress, mpv's status line,
// GStreamer's caps).

import (
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

	"github.com/bbllive/bbllive/fanout/logtest"
)

// extProc is an external program run for a test: in its own process
// group, killed with it at the latest when its time is up or the test
// ends.
type extProc struct {
	name string
	cmd  *exec.Cmd
	out  logtest.Buffer // stdout and stderr
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
// encoder would; -c copy, since encoding live would take CPU from the
// server and players under test.
func ffmpegLoopPublisher(t *testing.T, clip, url string) *extProc {
	t.Helper()
	return startProc(t, "ffmpeg publisher", 90*time.Second, nil, nil,
		"ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "flv", url)
}

// ffmpegRecorder is an ffmpeg player copying a stream into an FLV file,
// with its log (at ffmpegCheckLogLevel) kept. It copies the stream into
// MPEG-TS as well, whose muxer (as MP4's, and unlike FLV's, which lets a
// timestamp repeat) wants every track's timestamps strictly increasing, as
// HLS and recordings do.
type ffmpegRecorder struct {
	name, out string
	proc      *extProc
}

// startFFmpegRecorder plays url with ffmpeg into a file of the test's.
func startFFmpegRecorder(t *testing.T, name, url string) *ffmpegRecorder {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".flv")
	return &ffmpegRecorder{name: name, out: out, proc: startProc(t, "ffmpeg "+name+" player", 90*time.Second, nil, nil,
		"ffmpeg", "-hide_banner", "-nostats", "-loglevel", ffmpegCheckLogLevel, "-rw_timeout", "20000000", "-i", url,
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

// finish stops ffmpeg as a user would (it ends its file) and checks that
// it saw no timestamp of a track repeat or go back, and recorded h264 and
// AAC with at least video video frames.
func (r *ffmpegRecorder) finish(t *testing.T, video int) {
	t.Helper()
	r.proc.signal(syscall.SIGINT)
	if !r.proc.waitExit(5 * time.Second) {
		t.Errorf("%s: ffmpeg did not end at SIGINT", r.name)
	}
	checkMonotonic(t, r.name, r.proc.out.String())
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

// probeFacts is what ffprobe reads of a (possibly growing) file.
type probeFacts struct {
	kinds    map[string]int // streams by codec_type
	video    int            // video packets
	audio    int            // audio packets
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
		if p.CodecType == "audio" {
			f.audio++
		}
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

// interopFrames are a player's video frame counts through the test.
type interopFrames struct {
	before        int  // when the publisher was killed
	gap           int  // when it was restarted, 3.5 s later
	after         int  // once the new publisher had run a while
	aliveAtBack   bool // still connected when the publisher came back
	endedByItself bool // quit on the clean unpublish at the end
}

// interopRun is one run of the interop suite: the real players of a
// stream, and what each received across its publisher's drop.
type interopRun struct {
	players  []*interopPlayer // every player, skipped ones too
	running  []*interopPlayer // those not skipped
	oneShots []oneShot
	frames   map[string]*interopFrames
}

// playAcrossPublisherDrop is the interop suite against one server: ffmpeg
// publishes the clip looped to origin, every real player plays it from
// players (origin itself, or an edge of it), the publisher is killed (no
// unpublish: a crash or a lost link) and restarted 3.5 s later, then stops
// cleanly. Every player must keep its connection across the drop, get
// frames from the new publisher, see one audio and one video stream and a
// keyframe first, and be told the stream ended at the clean stop. The
// frame counts are logged per player.
func playAcrossPublisherDrop(t *testing.T, clip string, origin, players *testServer) {
	const name = "interop"
	pubURL, url := origin.url(name), players.url(name)
	dir := t.TempDir()

	pub := ffmpegLoopPublisher(t, clip, pubURL)
	waitFor(t, 10*time.Second, "the publisher", func() bool { return origin.logs.Count("msg=publishing") >= 1 })
	r := &interopRun{oneShots: startOneShots(t, url, dir), players: startInteropPlayers(t, url, dir), frames: map[string]*interopFrames{}}
	for _, p := range r.players {
		if p.skip == "" {
			r.running = append(r.running, p)
			r.frames[p.name] = &interopFrames{}
		}
	}
	pub2 := r.acrossDrop(pub, func() *extProc { return ffmpegLoopPublisher(t, clip, pubURL) })
	r.stopCleanly(pub2)
	t.Log(r.report())

	for _, o := range r.oneShots {
		t.Run(o.name, o.check)
	}
	for _, p := range r.players {
		t.Run(p.name, func(t *testing.T) { r.checkPlayer(t, p) })
	}
	if n := players.logs.Count("msg=playing"); n != len(r.running)+len(r.oneShots) {
		t.Errorf("%d play sessions for %d players: a player reconnected", n, len(r.running)+len(r.oneShots))
	}
}

// counts is each running player's video frames so far.
func (r *interopRun) counts() map[string]int {
	m := map[string]int{}
	for _, p := range r.running {
		m[p.name] = p.frames()
	}
	return m
}

// waitAllAbove waits up to 20 s for every running player still connected
// to have n more frames than in base.
func (r *interopRun) waitAllAbove(base map[string]int, n int) {
	allAbove := func() bool {
		c := r.counts()
		for _, p := range r.running {
			if !p.proc.exited() && c[p.name] < base[p.name]+n {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(20 * time.Second)
	for !allAbove() && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
}

// acrossDrop lets every player get two seconds of video (the clip is 25
// fps), kills pub, starts its successor with restart 3.5 s later and lets
// the players get three seconds of it, recording the counts; it returns
// the successor.
func (r *interopRun) acrossDrop(pub *extProc, restart func() *extProc) *extProc {
	r.waitAllAbove(nil, 2*clipFPS)
	for name, n := range r.counts() {
		r.frames[name].before = n
	}
	pub.kill()
	<-pub.done
	time.Sleep(3500 * time.Millisecond)
	gap := r.counts()
	for _, p := range r.running {
		r.frames[p.name].gap = gap[p.name]
		r.frames[p.name].aliveAtBack = !p.proc.exited()
	}
	pub2 := restart()
	r.waitAllAbove(gap, 3*clipFPS)
	for name, n := range r.counts() {
		r.frames[name].after = n
	}
	return pub2
}

// stopCleanly stops pub with SIGINT, so that ffmpeg sends FCUnpublish and
// deleteStream, and waits for the players to hear that the stream ended;
// those that do not are stopped (SIGINT first, so muxers finish their
// files).
func (r *interopRun) stopCleanly(pub *extProc) {
	pub.signal(syscall.SIGINT)
	pub.waitExit(10 * time.Second)
	var wg sync.WaitGroup
	for _, p := range r.running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.frames[p.name].endedByItself = p.proc.waitExit(8 * time.Second)
			if !r.frames[p.name].endedByItself {
				p.proc.signal(syscall.SIGINT)
				if !p.proc.waitExit(5 * time.Second) {
					p.proc.kill()
					<-p.proc.done
				}
			}
		}()
	}
	wg.Wait()
}

// report is the table of every player's frame counts, for the test log.
func (r *interopRun) report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "video frames per player: before the kill / at the restart 3.5 s later / after the restart (new frames) / quit on the clean unpublish\n")
	for _, p := range r.players {
		if p.skip != "" {
			fmt.Fprintf(&b, "  %-12s skipped: %s\n", p.name, p.skip)
			continue
		}
		f := r.frames[p.name]
		fmt.Fprintf(&b, "  %-12s %4d / %4d / %4d (+%d) / %v\n", p.name, f.before, f.gap, f.after, f.after-f.gap, f.endedByItself)
	}
	return b.String()
}

// checkPlayer logs p's frame counts across the drop and asserts what the
// suite promises of it.
func (r *interopRun) checkPlayer(t *testing.T, p *interopPlayer) {
	if p.skip != "" {
		t.Skip(p.skip)
	}
	f := r.frames[p.name]
	t.Logf("%s: %d video frames before the drop, %d when the publisher came back, %d after it (%d new)", p.name, f.before, f.gap, f.after, f.after-f.gap)
	if f.before < clipFPS {
		t.Errorf("%d video frames before the publisher was killed, want at least %d: %s", f.before, clipFPS, tail(p.proc))
	}
	if !f.aliveAtBack {
		t.Fatalf("quit while the publisher was away (within the grace): %v: %s", p.proc.err, tail(p.proc))
	}
	if f.after-f.gap < 2*clipFPS {
		t.Errorf("%d video frames after the publisher came back, want at least %d: %s", f.after-f.gap, 2*clipFPS, tail(p.proc))
	}
	if !f.endedByItself {
		t.Errorf("still playing 8s after the publisher unpublished cleanly (want it told the stream ended)")
	}
	p.check(t)
}
