package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
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
	return []oneShot{startFFprobeOneShot(t, url), startFFmpegFiveSeconds(t, url, dir)}
}

// startFFprobeOneShot runs ffprobe on url, which must list exactly one
// video and one audio stream.
func startFFprobeOneShot(t *testing.T, url string) oneShot {
	probe := startProc(t, "ffprobe", 20*time.Second, nil, nil, "ffprobe", "-hide_banner", url)
	return oneShot{"ffprobe", func(t *testing.T) {
		<-probe.done
		if probe.err != nil {
			t.Fatalf("ffprobe: %v: %s", probe.err, tail(probe))
		}
		t.Logf("ffprobe: %s", inputStreamLines(probe.out.String()))
		checkKinds(t, "ffprobe", inputStreams(probe.out.String()), "Video", "Audio")
	}}
}

// startFFmpegFiveSeconds copies 5 s of url into MKV with ffmpeg at
// ffmpegCheckLogLevel (it lists its input streams and says when a track's
// timestamps repeat). ffmpeg must end by itself, have read
// exactly one video and one audio stream (-c copy would drop a stray Data
// stream unseen), see no timestamp go back, and the file must start at a
// keyframe.
func startFFmpegFiveSeconds(t *testing.T, url, dir string) oneShot {
	mkv := filepath.Join(dir, "five.mkv")
	rec := startProc(t, "ffmpeg -t 5", 30*time.Second, nil, nil,
		"ffmpeg", "-hide_banner", "-nostats", "-loglevel", ffmpegCheckLogLevel, "-rw_timeout", "20000000", "-i", url, "-t", "5", "-c", "copy", mkv)
	return oneShot{"ffmpeg-t5-mkv", func(t *testing.T) {
		<-rec.done
		if rec.err != nil {
			t.Fatalf("ffmpeg -t 5 -c copy to MKV did not finish cleanly: %v: %s", rec.err, tail(rec))
		}
		log := rec.out.String()
		t.Logf("ffmpeg input: %s", inputStreamLines(log))
		checkKinds(t, "ffmpeg input", inputStreams(log), "Video", "Audio")
		checkMonotonic(t, "ffmpeg -t 5", log)
		checkProbe(t, mkv, 4*clipFPS)
	}}
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
// at least minVideo video packets, the first a keyframe; it logs the
// counts.
func checkProbe(t *testing.T, path string, minVideo int) probeFacts {
	t.Helper()
	f, err := probeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: streams %v, %d video packets (first a keyframe: %v), %d audio", filepath.Base(path), f.kinds, f.video, f.firstKey, f.audio)
	checkKinds(t, filepath.Base(path), f.kinds, "video", "audio")
	if f.video < minVideo || !f.firstKey {
		t.Errorf("%s: %d video packets (want ≥ %d), first a keyframe: %v", filepath.Base(path), f.video, minVideo, f.firstKey)
	}
	return f
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
		args := append([]string{"ffmpeg", "-hide_banner", "-nostats", "-loglevel", ffmpegCheckLogLevel, "-progress", prog,
			"-i", url, "-c", "copy"}, out...)
		p := &interopPlayer{name: name, proc: startProc(t, name, limit, nil, nil, args...)}
		p.frames = func() int { return progressFrames(prog) }
		file := out[len(out)-1]
		p.check = func(t *testing.T) {
			log := p.proc.out.String()
			checkKinds(t, "ffmpeg input", inputStreams(log), "Video", "Audio")
			// Across the publisher's drop every track's timestamps must go
			// on increasing. HLS's MPEG-TS muxer wants them strictly
			// increasing, so ffmpeg reports a repeat there; MKV's lets one
			// repeat and reports a step back; the null muxer checks none.
			checkMonotonic(t, name, log)
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
	if p.skip = gstMissing("rtmp2src", "flvdemux", "flvmux"); p.skip != "" {
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
	// What flvdemux's pads carried is read from flvmux's file, not from
	// gst-launch -v's caps lines, which it leaves out now and then (seen
	// in CI: no line for one pad): an AVC and an AAC sequence header there
	// are H.264 and AAC pads.
	p.check = func(t *testing.T) { checkFLV(t, rec) }
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

// vlcPlayer is VLC playing the stream to its end, recorded (--sout) for
// ffprobe.
func vlcPlayer(t *testing.T, url string, limit time.Duration) *interopPlayer {
	p := &interopPlayer{name: "vlc"}
	if p.skip = vlcMissing(); p.skip != "" {
		return p
	}
	rec := startVLCRecording(t, url, 0, limit)
	p.proc = rec.proc
	p.frames = rec.videoFrames
	p.check = func(t *testing.T) { checkProbe(t, rec.file, 4*clipFPS) }
	return p
}

// TestMonotonicCheckSeesFFmpegWarning keeps checkMonotonic honest: a clip
// whose audio or video timestamps repeat, copied by ffmpeg at
// ffmpegCheckLogLevel into MPEG-TS (as the HLS player does), must make
// ffmpeg say so in words nonMonotonic matches. A repeated audio timestamp
// is reported at debug level only.
func TestMonotonicCheckSeesFFmpegWarning(t *testing.T) {
	clip := testClip(t)
	for _, tc := range []struct {
		name, bsf string
		step      int // ms: twice a frame's duration
	}{
		// The clip's AAC frames are 23 ms apart and its video frames
		// 40 ms: rounding down to twice that makes pairs share a time.
		{"audio", "-bsf:a", 46},
		{"video", "-bsf:v", 80},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bad := filepath.Join(dir, "repeats.flv")
			if out, err := exec.Command("ffmpeg", "-y", "-loglevel", "error", "-i", clip, "-c", "copy",
				tc.bsf, fmt.Sprintf("setts=ts=trunc(TS/%d)*%d", tc.step, tc.step), "-f", "flv", bad).CombinedOutput(); err != nil {
				t.Fatalf("making a clip with repeated %s timestamps: %v: %s", tc.name, err, out)
			}
			out, err := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-loglevel", ffmpegCheckLogLevel, "-i", bad,
				"-c", "copy", "-f", "mpegts", "-y", filepath.Join(dir, "out.ts")).CombinedOutput()
			if err != nil {
				t.Fatalf("ffmpeg: %v: %s", err, out)
			}
			m := nonMonotonic.FindAllString(string(out), -1)
			if len(m) == 0 {
				t.Fatalf("ffmpeg copied repeated %s timestamps without a line nonMonotonic matches: checkMonotonic would see nothing", tc.name)
			}
			t.Logf("%d warnings, first: %s", len(m), m[0])
		})
	}
}
