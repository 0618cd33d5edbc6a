package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/mediatest"
	"github.com/bbllive/bbllive/fanout/hls/hlstest"
)

// hlsClip is the clip HLS tests publish: 1 s GOPs, so 1 s segments.
var hlsClip = mediatest.Clip{Seconds: 4, FPS: 25, GOP: 25, Width: 320, Height: 240}

// startHLS runs a server with 1 s HLS segments and ffmpeg publishing the
// clip in a loop to live/NAME, and returns the playlist URL once it
// answers, and the publisher's stop.
func startHLS(t *testing.T, name string, opts ...string) (srv *testServer, playlist string, stop func() error) {
	t.Helper()
	clip := mediatest.Path(t, hlsClip)
	srv = startServer(t, append([]string{"-hls-segment-target", "1s"}, opts...)...)
	stop = mediatest.Publish(context.Background(), t, clip, srv.url(name))
	playlist = "http://" + srv.http + "/live/" + name + "/index.m3u8"
	waitFor(t, 15*time.Second, "the HLS playlist", func() bool {
		resp, err := http.Get(playlist)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return srv, playlist, stop
}

// fetchPlaylist gets, parses and validates a playlist.
func fetchPlaylist(url string) (*hlstest.Playlist, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %s %v", url, resp.Status, err)
	}
	pl, err := hlstest.Parse(b)
	if err != nil {
		return nil, err
	}
	if err := pl.Validate(); err != nil {
		return nil, fmt.Errorf("%v\n%s", err, b)
	}
	return pl, nil
}

// TestHLSFFmpegClient plays the LL-HLS playlist of a real ffmpeg-published
// stream with ffmpeg's HLS demuxer (which ignores the LL tags: the
// ordinary HLS view of the same playlist) and counts the frames of 6 s,
// with fMP4 and with MPEG-TS segments.
func TestHLSFFmpegClient(t *testing.T) {
	for _, format := range []string{"fmp4", "ts"} {
		t.Run(format, func(t *testing.T) { testHLSFFmpegClient(t, format) })
	}
}

func testHLSFFmpegClient(t *testing.T, format string) {
	srv, playlist, _ := startHLS(t, "hlsff", "-hls-segment", format)
	out := filepath.Join(t.TempDir(), "hls.nut")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	// Reloads while ffmpeg plays must each be valid and continue the last.
	stopCheck := make(chan struct{})
	checked := make(chan error, 1)
	go func() {
		var prev *hlstest.Playlist
		n := 0
		for {
			select {
			case <-stopCheck:
				checked <- fmt.Errorf("%d reloads checked", n)
				return
			case <-time.After(300 * time.Millisecond):
			}
			pl, err := fetchPlaylist(playlist)
			if err != nil {
				checked <- err
				return
			}
			if prev != nil {
				if err := prev.Continues(pl); err != nil {
					checked <- err
					return
				}
			}
			prev, n = pl, n+1
		}
	}()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-y", "-loglevel", "error", "-i", playlist, "-t", "6", "-c", "copy", "-f", "nut", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg as HLS client: %v: %s", err, b)
	}
	close(stopCheck)
	if err := <-checked; !strings.Contains(err.Error(), "reloads checked") {
		t.Fatal(err)
	} else {
		t.Log(err)
	}
	b, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,nb_read_frames",
		"-of", "csv=p=0", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(strings.ReplaceAll(string(b), ",", " "))
	t.Logf("ffprobe of 6 s of HLS: %v", got)
	if len(got) != 4 || got[0] != "h264" || got[2] != "aac" {
		t.Fatalf("streams %v, want h264 and aac", got)
	}
	mfs := scrape(t, srv.http)
	kinds := []string{"playlist", "segment"}
	if format == "fmp4" {
		kinds = append(kinds, "init")
	}
	for _, kind := range kinds {
		if n := mustSeries(t, mfs, "bbllive_hls_requests_total", "kind="+kind); n == 0 {
			t.Errorf("bbllive_hls_requests_total{kind=%q} is 0 after ffmpeg played", kind)
		}
	}
	if n := mustSeries(t, mfs, "bbllive_hls_remuxers"); n != 1 {
		t.Errorf("bbllive_hls_remuxers %v, want 1", n)
	}
	var v, a int
	fmt.Sscan(got[1], &v)
	fmt.Sscan(got[3], &a)
	if v < 6*hlsClip.FPS-5 || v > 6*hlsClip.FPS+5 || a < 6*44100/1024-10 {
		t.Fatalf("%d video and %d audio frames in 6 s, want about %d and %d", v, a, 6*hlsClip.FPS, 6*44100/1024)
	}
}

// TestHLSVLCClient plays the LL-HLS playlist with VLC (its adaptive
// demuxer, which ignores the LL tags) for 8 s, with fMP4 and with MPEG-TS
// segments, its demuxed streams recorded without transcoding: exactly one
// video and one audio stream, a keyframe first, and at least 6 s of video
// frames (VLC starts a few segments behind live, so it may get more than 8
// s' worth).
func TestHLSVLCClient(t *testing.T) {
	if skip := vlcMissing(); skip != "" {
		t.Skip(skip)
	}
	const play = 8 * time.Second
	for _, format := range []string{"fmp4", "ts"} {
		t.Run(format, func(t *testing.T) {
			_, playlist, _ := startHLS(t, "hlsvlc", "-hls-segment", format)
			startVLCOneShot(t, playlist, play, 6*hlsClip.FPS).check(t)
		})
	}
}

// TestHLSPublisherReconnect: the publisher leaves and comes back within
// the grace period with another picture size. The playlist keeps its
// media sequence, marks the change with EXT-X-DISCONTINUITY and a new
// EXT-X-MAP, and every reload stays valid and continues the last.
func TestHLSPublisherReconnect(t *testing.T) {
	srv, playlist, stopFirst := startHLS(t, "again")
	other := mediatest.Path(t, mediatest.Clip{Seconds: 4, FPS: 25, GOP: 25, Width: 640, Height: 360})
	var prev *hlstest.Playlist
	poll := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			pl, err := fetchPlaylist(playlist)
			if err != nil {
				t.Fatal(err)
			}
			if prev != nil {
				if err := prev.Continues(pl); err != nil {
					t.Fatal(err)
				}
			}
			prev = pl
		}
	}
	poll(3 * time.Second)
	firstMap := prev.Segments[0].Map
	if err := stopFirst(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the first publisher to leave", func() bool {
		var rows []streamRow
		getJSON(t, srv.http, "/api/streams", &rows)
		return len(rows) == 1 && !rows[0].Live
	})
	mediatest.Publish(context.Background(), t, other, srv.url("again"))
	poll(6 * time.Second)
	var disc *hlstest.Segment
	for i := range prev.Segments {
		if prev.Segments[i].Discontinuity {
			disc = &prev.Segments[i]
		}
	}
	if disc == nil || disc.Map == firstMap || disc.DSN != prev.DiscontinuitySequence+1 {
		t.Fatalf("after the reconnect: discontinuity %+v, first map %s", disc, firstMap)
	}
	t.Logf("segment %d starts the new settings with %s", disc.MSN, disc.Map)
}
