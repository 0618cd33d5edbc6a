package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// interopPlayer is one real player of the interop suite.
type interopPlayer struct {
	name string
	skip string // why it cannot run here
	proc *extProc
	// frames is how many video frames it has received so far.
	frames func() int
	// check asserts, once it ended, one audio and one video stream and a
	// keyframe first.
	check func(t *testing.T)
}

// TestInteropPlayersAcrossPublisherDrop plays one stream with every real
// RTMP player Debian ships — ffmpeg (-c copy to MKV, to HLS, to null),
// ffprobe, mpv, GStreamer's rtmp2src ! flvdemux, rtmpdump (librtmp) and
// VLC — all at once, kills the ffmpeg publisher (no unpublish: a crash or a
// lost link), restarts it 3.5 s later, and checks that every player kept
// its connection and got frames from the new publisher, one audio and one
// video stream, and a keyframe first. At the end the publisher stops
// cleanly and the players are told the stream ended.
func TestInteropPlayersAcrossPublisherDrop(t *testing.T) {
	clip := testClip(t)
	srv := startServer(t, "-io", "auto", "-publish-grace", "20s")
	playAcrossPublisherDrop(t, clip, srv, srv)
}

// tail is the end of a process's output, for failure messages.
func tail(p *extProc) string {
	s := p.out.String()
	return s[max(0, len(s)-1500):]
}

// oneShot is a player run once to its end: ffprobe, ffmpeg -t 5.
type oneShot struct {
	name  string
	check func(t *testing.T)
}

// startOneShots runs ffprobe on the stream and records 5 s of it to MKV,
// which must finish by itself (it hung when ffmpeg saw a Data stream).
func startOneShots(t *testing.T, url, dir string) []oneShot {
	probe := startProc(t, "ffprobe", 20*time.Second, nil, nil, "ffprobe", "-hide_banner", url)
	mkv := filepath.Join(dir, "five.mkv")
	rec := startProc(t, "ffmpeg -t 5", 30*time.Second, nil, nil,
		"ffmpeg", "-hide_banner", "-nostats", "-i", url, "-t", "5", "-c", "copy", mkv)
	return []oneShot{
		{"ffprobe", func(t *testing.T) {
			<-probe.done
			if probe.err != nil {
				t.Fatalf("ffprobe: %v: %s", probe.err, tail(probe))
			}
			checkKinds(t, "ffprobe", inputStreams(probe.out.String()), "Video", "Audio")
		}},
		{"ffmpeg-t5-mkv", func(t *testing.T) {
			<-rec.done
			if rec.err != nil {
				t.Fatalf("ffmpeg -t 5 -c copy to MKV did not finish cleanly: %v: %s", rec.err, tail(rec))
			}
			checkKinds(t, "ffmpeg input", inputStreams(rec.out.String()), "Video", "Audio")
			checkProbe(t, mkv, 4*clipFPS)
		}},
	}
}

// checkKinds wants exactly one stream of each kind in want, and no other.
func checkKinds(t *testing.T, who string, got map[string]int, want ...string) {
	t.Helper()
	exp := map[string]int{}
	for _, k := range want {
		exp[k] = 1
	}
	if fmt.Sprint(got) != fmt.Sprint(exp) {
		t.Errorf("%s: streams %v, want exactly %v", who, got, exp)
	}
}

// checkProbe wants a file ffprobe reads as one audio and one video stream,
// at least minVideo video packets, the first a keyframe.
func checkProbe(t *testing.T, path string, minVideo int) {
	t.Helper()
	f, err := probeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkKinds(t, filepath.Base(path), f.kinds, "video", "audio")
	if f.video < minVideo || !f.firstKey {
		t.Errorf("%s: %d video packets (want ≥ %d), first a keyframe: %v", filepath.Base(path), f.video, minVideo, f.firstKey)
	}
}

// checkFLV wants an FLV recording with audio and video only, sequence
// headers before the frames, and a keyframe first.
func checkFLV(t *testing.T, path string) {
	t.Helper()
	f, err := readFLV(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.audio == 0 || f.video == 0 || f.other != 0 || !f.firstKey || !f.videoSeq || !f.audioSeq {
		t.Errorf("%s: %+v: want audio and video frames, no other tags, sequence headers and a keyframe first", filepath.Base(path), f)
	}
}

// startInteropPlayers starts every player on url, each writing into dir.
func startInteropPlayers(t *testing.T, url, dir string) []*interopPlayer {
	const limit = 90 * time.Second
	var ps []*interopPlayer
	ffmpegPlayer := func(name string, out ...string) {
		prog := filepath.Join(dir, name+".progress")
		args := append([]string{"ffmpeg", "-hide_banner", "-nostats", "-progress", prog, "-i", url, "-c", "copy"}, out...)
		p := &interopPlayer{name: name, proc: startProc(t, name, limit, nil, nil, args...)}
		p.frames = func() int { return progressFrames(prog) }
		file := out[len(out)-1]
		p.check = func(t *testing.T) {
			checkKinds(t, "ffmpeg input", inputStreams(p.proc.out.String()), "Video", "Audio")
			if file != "-" {
				checkProbe(t, file, 4*clipFPS)
			}
		}
		ps = append(ps, p)
	}
	ffmpegPlayer("ffmpeg-mkv", "-f", "matroska", filepath.Join(dir, "rec.mkv"))
	ffmpegPlayer("ffmpeg-hls", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0", filepath.Join(dir, "rec.m3u8"))
	ffmpegPlayer("ffmpeg-null", "-f", "null", "-")

	ps = append(ps, mpvPlayer(t, url, dir, limit), gstPlayer(t, url, dir, limit), rtmpdumpPlayer(t, url, dir, limit), vlcPlayer(t, url, limit))
	return ps
}

func mpvPlayer(t *testing.T, url, dir string, limit time.Duration) *interopPlayer {
	p := &interopPlayer{name: "mpv"}
	if _, err := exec.LookPath("mpv"); err != nil {
		p.skip = "mpv not installed (apt-get install mpv)"
		return p
	}
	rec := filepath.Join(dir, "mpv.mkv")
	p.proc = startProc(t, "mpv", limit, nil, nil, "mpv", "--no-config", "--vo=null", "--ao=null", "--stream-record="+rec,
		"--term-status-msg=STATUS ${estimated-frame-number} ${track-list/count} ${track-list/0/type},${track-list/1/type}", url)
	p.frames = func() int { n, _, _ := mpvStatus(p.proc.out.String()); return n }
	p.check = func(t *testing.T) {
		_, tracks, types := mpvStatus(p.proc.out.String())
		if tracks != 2 || (types != "video,audio" && types != "audio,video") {
			t.Errorf("mpv saw %d tracks (%s), want one video and one audio", tracks, types)
		}
		checkProbe(t, rec, 4*clipFPS)
	}
	return p
}

func gstPlayer(t *testing.T, url, dir string, limit time.Duration) *interopPlayer {
	p := &interopPlayer{name: "gstreamer"}
	if _, err := exec.LookPath("gst-launch-1.0"); err != nil {
		p.skip = "gst-launch-1.0 not installed (apt-get install gstreamer1.0-tools gstreamer1.0-plugins-bad gstreamer1.0-plugins-good)"
		return p
	}
	if out, err := exec.Command("gst-inspect-1.0", "rtmp2src").CombinedOutput(); err != nil {
		p.skip = fmt.Sprintf("GStreamer has no rtmp2src (gstreamer1.0-plugins-bad): %v: %s", err, out)
		return p
	}
	rec := filepath.Join(dir, "gst.flv")
	// flvdemux's pads are muxed back into FLV so the frames can be counted
	// and the first checked for a keyframe.
	p.proc = startProc(t, "gst-launch", limit, nil, nil, "gst-launch-1.0", "-v", "-e",
		"rtmp2src", "location="+url, "!", "flvdemux", "name=d",
		"flvmux", "name=m", "streamable=true", "!", "filesink", "location="+rec, "buffer-mode=unbuffered",
		"d.video", "!", "queue", "name=qv", "!", "m.video", "d.audio", "!", "queue", "name=qa", "!", "m.audio")
	p.frames = func() int { f, _ := readFLV(rec); return f.video }
	p.check = func(t *testing.T) {
		caps := gstQueueCaps(p.proc.out.String())
		if len(caps) != 2 || !strings.HasPrefix(caps["qv"], "video/x-h264") || !strings.HasPrefix(caps["qa"], "audio/mpeg") {
			t.Errorf("flvdemux's video and audio pads carried %v, want H.264 and AAC", caps)
		}
		checkFLV(t, rec)
	}
	return p
}

func rtmpdumpPlayer(t *testing.T, url, dir string, limit time.Duration) *interopPlayer {
	p := &interopPlayer{name: "rtmpdump"}
	if _, err := exec.LookPath("rtmpdump"); err != nil {
		p.skip = "rtmpdump not installed (apt-get install rtmpdump)"
		return p
	}
	rec := filepath.Join(dir, "rtmpdump.flv")
	p.proc = startProc(t, "rtmpdump", limit, nil, nil, "rtmpdump", "-q", "--live", "-r", url, "-o", rec)
	p.frames = func() int { f, _ := readFLV(rec); return f.video }
	p.check = func(t *testing.T) { checkFLV(t, rec) }
	return p
}

func vlcPlayer(t *testing.T, url string, limit time.Duration) *interopPlayer {
	p := &interopPlayer{name: "vlc"}
	if _, err := exec.LookPath("cvlc"); err != nil {
		p.skip = "cvlc not installed (apt-get install vlc)"
		return p
	}
	// VLC refuses to run as root: as root, run it as nobody, in a folder
	// nobody may write (t.TempDir is the test user's alone).
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
	rec := filepath.Join(home, "vlc.ts")
	p.proc = startProc(t, "vlc", limit, cred, []string{"HOME=" + home},
		"cvlc", "--intf", "dummy", "--play-and-exit", "--no-video-title-show", url,
		"--sout", "#std{access=file,mux=ts,dst="+rec+"}")
	p.frames = func() int { f, _ := probeFile(rec); return f.video }
	p.check = func(t *testing.T) { checkProbe(t, rec, 4*clipFPS) }
	return p
}
