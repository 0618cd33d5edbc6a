package main

// Real players shared by the RTMP interop suite, the HTTP-FLV and the HLS
// tests: each starts as a viewer would run it, says by name what is
// missing when it cannot run here, and leaves behind what it made of the
// stream for the checks of interop_test.go (checkKinds, checkProbe).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// vlcMissing is why VLC cannot run here, "" when it can.
func vlcMissing() string {
	if _, err := exec.LookPath("cvlc"); err != nil {
		return "cvlc not installed (apt-get install vlc)"
	}
	return ""
}

// vlcRecording is VLC playing a URL, its demuxer's streams copied without
// transcoding (--sout) into an MPEG-TS file: ffprobe of that file shows
// what VLC made of the stream (which tracks, a keyframe first, how many
// frames).
type vlcRecording struct {
	proc *extProc
	file string
}

// startVLCRecording plays url with cvlc for at most limit; with runTime
// above zero VLC stops by itself after playing that long (--run-time),
// otherwise when the stream ends. VLC refuses to run as root: as root it
// runs as nobody, in a folder nobody may write (t.TempDir is the test
// user's alone). The caller has checked vlcMissing.
func startVLCRecording(t *testing.T, url string, runTime, limit time.Duration) *vlcRecording {
	t.Helper()
	var cred *syscall.Credential
	home, err := os.MkdirTemp("", "bbllive-vlc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	if os.Geteuid() == 0 {
		cred = nobody
		if err := os.Chmod(home, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	rec := &vlcRecording{file: filepath.Join(home, "vlc.ts")}
	args := []string{"cvlc", "--intf", "dummy", "--play-and-exit", "--no-video-title-show"}
	if runTime > 0 {
		args = append(args, fmt.Sprintf("--run-time=%d", int(runTime.Seconds())))
	}
	args = append(args, url, "--sout", "#std{access=file,mux=ts,dst="+rec.file+"}")
	rec.proc = startProc(t, "vlc", limit, cred, []string{"HOME=" + home}, args...)
	return rec
}

// videoFrames is how many video frames the recording holds so far.
func (r *vlcRecording) videoFrames() int {
	f, _ := probeFile(r.file)
	return f.video
}

// gstMissing is why a gst-launch-1.0 pipeline of these elements cannot run
// here, "" when it can: gst-launch-1.0 alone does not mean the plugins
// that hold the elements are installed.
func gstMissing(elements ...string) string {
	for _, tool := range []string{"gst-launch-1.0", "gst-inspect-1.0"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " not installed (apt-get install gstreamer1.0-tools)"
		}
	}
	for _, e := range elements {
		if out, err := exec.Command("gst-inspect-1.0", e).CombinedOutput(); err != nil {
			return fmt.Sprintf("GStreamer has no element %s (apt-get install gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav): %v: %s",
				e, err, strings.TrimSpace(string(out)))
		}
	}
	return ""
}

// ffmpegCheckLogLevel is the log level of the ffmpeg players whose logs
// checkMonotonic reads: ffmpeg warns of a repeated video timestamp at
// warning level, but of an audio timestamp that repeats or goes back by at
// most 2 units of the output's time base only at debug level (it then
// quietly moves it on), so anything less would let a repeated audio
// timestamp pass. debug also lists the input streams (inputStreams).
const ffmpegCheckLogLevel = "debug"

// nonMonotonic matches what ffmpeg says of a track whose timestamp repeats
// or goes back: "Non-monotonous DTS in output stream 0:1; previous: …",
// and the muxer's "non monotonically increasing dts".
var nonMonotonic = regexp.MustCompile(`(?i)non[- ]monoton[^\n]*`)

// checkMonotonic fails the test when an ffmpeg player's log (at
// ffmpegCheckLogLevel) says a track's timestamps repeated or went back: a
// recording or HLS output of it would carry timestamps ffmpeg made up.
func checkMonotonic(t *testing.T, who, log string) {
	t.Helper()
	if m := nonMonotonic.FindAllString(log, -1); len(m) > 0 {
		t.Errorf("%s: ffmpeg saw a track's timestamps repeat or go back %d times:\n%s",
			who, len(m), strings.Join(m[:min(len(m), 10)], "\n"))
	}
}

// ffmpegStreamsLine is the ffmpeg/ffprobe log line of one input stream,
// for the figures tests log.
var ffmpegStreamsLine = regexp.MustCompile(`(?m)^\s*Stream #0:\d+.*$`)

// inputStreamLines are the "Stream #0:N" lines of input #0 in an ffmpeg or
// ffprobe log, trimmed, joined by "; ".
func inputStreamLines(log string) string {
	if i := strings.Index(log, "Output #0"); i >= 0 {
		log = log[:i]
	}
	lines := ffmpegStreamsLine.FindAllString(log, -1)
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}

// startVLCOneShot plays url with VLC for runTime and wants its recording
// to hold exactly one video and one audio stream, a keyframe first and at
// least minVideo video frames.
func startVLCOneShot(t *testing.T, url string, runTime time.Duration, minVideo int) oneShot {
	if skip := vlcMissing(); skip != "" {
		return oneShot{"vlc", func(t *testing.T) { t.Skip(skip) }}
	}
	rec := startVLCRecording(t, url, runTime, runTime+30*time.Second)
	return oneShot{"vlc", func(t *testing.T) {
		<-rec.proc.done
		if rec.proc.err != nil {
			t.Fatalf("vlc: %v: %s", rec.proc.err, tail(rec.proc))
		}
		f := checkProbe(t, rec.file, minVideo)
		t.Logf("vlc: %d video frames in %v of playing %s", f.video, runTime, url)
	}}
}

// startGstFLVDecode plays an HTTP-FLV url with GStreamer's souphttpsrc !
// flvdemux, decoding n video frames (avdec_h264) and n audio buffers
// (avdec_aac): the pipeline ends (EOS) only once both sinks had theirs, so
// an EOS is flvdemux's video pad carrying H.264 and its audio pad AAC (a
// pad of another codec does not link to its parser, an error).
func startGstFLVDecode(t *testing.T, url string, n int) oneShot {
	if skip := gstMissing("souphttpsrc", "flvdemux", "h264parse", "avdec_h264", "aacparse", "avdec_aac", "fakesink"); skip != "" {
		return oneShot{"gstreamer", func(t *testing.T) { t.Skip(skip) }}
	}
	sink := fmt.Sprintf("num-buffers=%d", n)
	p := startProc(t, "gst-launch", 30*time.Second, nil, nil, "gst-launch-1.0", "-v",
		"souphttpsrc", "location="+url, "!", "flvdemux", "name=d",
		"d.video", "!", "queue", "name=qv", "!", "h264parse", "!", "avdec_h264", "!", "fakesink", sink,
		"d.audio", "!", "queue", "name=qa", "!", "aacparse", "!", "avdec_aac", "!", "fakesink", sink)
	return oneShot{"gstreamer", func(t *testing.T) {
		<-p.done
		out := p.out.String()
		if p.err != nil || !strings.Contains(out, "Got EOS from element") {
			t.Fatalf("gst-launch did not decode %d video frames and %d audio buffers: %v: %s", n, n, p.err, tail(p))
		}
		t.Logf("gstreamer: decoded %d video frames and %d audio buffers", n, n)
	}}
}
