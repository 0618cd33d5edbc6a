package hls

import (
	"github.com/bbllive/bbllive/fanout/fmp4"
	"github.com/bbllive/bbllive/fanout/mpegts"
)

// cutter turns frames into the bytes of parts: CMAF fragments
// (fmp4.Fragmenter) or MPEG-TS (tsCutter). Like the fragmenter, it holds
// the newest video frame until the next one arrives, so that a part cut
// before a frame holds exactly the frames before it.
type cutter interface {
	Tracks() []*fmp4.Track
	AddVideo(dts int64, fr fmp4.Frame)
	AddAudio(dts int64, fr fmp4.Frame)
	Ready() bool
	Flush()
	EndVideoAt(ms int64)
	AppendFragment(dst []byte) []byte
}

// Segment formats.
const (
	FormatFMP4 = "fmp4"
	FormatTS   = "ts"
)

func newCutter(format string, video, audio *fmp4.Track) cutter {
	if format == FormatTS {
		return newTSCutter(video, audio)
	}
	return fmp4.NewFragmenter(video, audio)
}

// tsCutter writes H.264 and AAC frames as MPEG-TS; every part starts
// with the PAT and PMT. Only H.264 video goes into TS here.
type tsCutter struct {
	video, audio *fmp4.Track
	w            *mpegts.Writer
	nalLen       int
	sets         [][]byte
	pending      *fmp4.Frame
	pendingDTS   int64
	data         []byte // copy of the pending frame's bytes
}

func newTSCutter(video, audio *fmp4.Track) *tsCutter {
	c := &tsCutter{audio: audio}
	if video != nil && video.Codec[:4] == "avc1" {
		if n, sets, err := fmp4.AVCParameterSets(video.Config()); err == nil {
			c.video, c.nalLen, c.sets = video, n, sets
		}
	}
	c.w = mpegts.NewWriter(c.video != nil, audio != nil)
	return c
}

func (c *tsCutter) Tracks() []*fmp4.Track {
	var ts []*fmp4.Track
	if c.video != nil {
		ts = append(ts, c.video)
	}
	if c.audio != nil {
		ts = append(ts, c.audio)
	}
	return ts
}

func (c *tsCutter) AddVideo(dts int64, fr fmp4.Frame) {
	if c.video == nil {
		return
	}
	c.Flush()
	c.data = append(c.data[:0], fr.Data...)
	fr.Data = c.data
	c.pending, c.pendingDTS = &fr, dts
}

func (c *tsCutter) AddAudio(dts int64, fr fmp4.Frame) {
	if c.audio != nil {
		c.w.WriteAudio(dts, fr.Data, c.audio.Config()) // a frame ADTS cannot frame is left out
	}
}

func (c *tsCutter) Ready() bool { return len(c.w.Buf) > 0 }

// Flush writes the pending video frame.
func (c *tsCutter) Flush() {
	if c.pending != nil {
		f := c.pending
		c.w.WriteVideo(c.pendingDTS, c.pendingDTS+int64(f.CTO), f.Key, f.Data, c.nalLen, c.sets) // a malformed sample is left out
		c.pending = nil
	}
}

// EndVideoAt has nothing to shorten: TS carries no sample durations.
func (c *tsCutter) EndVideoAt(int64) {}

func (c *tsCutter) AppendFragment(dst []byte) []byte {
	if !c.Ready() {
		return dst
	}
	body := c.w.Buf
	c.w.Buf = nil
	c.w.WriteTables()
	dst = append(dst, c.w.Buf...)
	c.w.Buf = nil
	return append(dst, body...)
}
