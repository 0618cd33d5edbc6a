package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/flv"
	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/rtmp"
)

// writeSynthFile writes d of a synthetic stream as an FLV file.
func writeSynthFile(t *testing.T, d time.Duration) string {
	t.Helper()
	s, err := synth.New(synth.Config{Audio: true, GOP: 25})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "in.flv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := flv.NewWriter(f, flv.FlagAudio|flv.FlagVideo)
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, due := s.Next()
		if due >= d {
			return path
		}
		data := m.Payload
		if m.Type == rtmp.TypeDataAMF0 {
			data, _ = rtmp.MetadataPayload(data)
		}
		if err := w.WriteTag(&flv.Tag{Type: m.Type, Timestamp: m.Timestamp, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFileSourceLoops(t *testing.T) {
	src, err := OpenFLV(writeSynthFile(t, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var (
		headers, meta, frames int
		lastVideo, lastAudio  int64 = -1, -1
		lastDue               time.Duration
	)
	for i := 0; i < 3*(50+87+3); i++ { // three passes of 50 frames and 87 audio frames
		m, due, err := src.Next()
		if err != nil {
			t.Fatal(err)
		}
		if due < lastDue-100*time.Millisecond {
			t.Fatalf("message %d due at %v after %v", i, due, lastDue)
		}
		lastDue = max(lastDue, due)
		switch {
		case m.Type == rtmp.TypeDataAMF0:
			meta++
			if _, ok := rtmp.MetadataPayload(m.Payload); !ok {
				t.Errorf("metadata not recognised: %q", m.Payload)
			}
		case rtmp.IsSequenceHeader(m.Type, m.Payload):
			headers++
		case m.Type == rtmp.TypeVideo:
			frames++
			if int64(m.Timestamp) <= lastVideo {
				t.Fatalf("video timestamp %d after %d", m.Timestamp, lastVideo)
			}
			// 40 ms within a pass; across a loop at most one frame
			// more, as the next pass starts after the longer track.
			step := int64(m.Timestamp) - lastVideo
			if lastVideo >= 0 && (step < 40 || step > 80 || step != 40 && frames%50 != 1) {
				t.Fatalf("video step %d ms at frame %d", step, frames)
			}
			lastVideo = int64(m.Timestamp)
		case m.Type == rtmp.TypeAudio:
			if int64(m.Timestamp) < lastAudio {
				t.Fatalf("audio timestamp %d after %d", m.Timestamp, lastAudio)
			}
			lastAudio = int64(m.Timestamp)
		}
	}
	if meta != 1 || headers != 2 {
		t.Errorf("%d metadata, %d sequence headers: want each once", meta, headers)
	}
	if frames < 140 {
		t.Errorf("%d video frames over three passes", frames)
	}
}

func TestFileSourceErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenFLV(filepath.Join(dir, "missing.flv")); err == nil {
		t.Error("missing file opened")
	}
	notFLV := filepath.Join(dir, "x.flv")
	os.WriteFile(notFLV, []byte("not an flv file at all"), 0o644)
	if _, err := OpenFLV(notFLV); err == nil {
		t.Error("garbage opened")
	}
	empty := filepath.Join(dir, "empty.flv")
	os.WriteFile(empty, []byte("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"), 0o644)
	src, err := OpenFLV(empty)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, _, err := src.Next(); err == nil {
		t.Error("a file without tags looped forever instead of failing")
	}
}
