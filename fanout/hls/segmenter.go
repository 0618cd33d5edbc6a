package hls

import (
	"log/slog"
	"time"

	"github.com/bbllive/bbllive/fanout/fmp4"
	"github.com/bbllive/bbllive/rtmp"
)

// initSegment is one init segment, numbered in its remuxer's run.
type initSegment struct {
	id     int
	data   []byte
	tracks []*fmp4.Track
}

// describes reports whether the init segment is the one for tracks.
func (i *initSegment) describes(tracks []*fmp4.Track) bool {
	if i == nil || len(i.tracks) != len(tracks) {
		return false
	}
	for k := range tracks {
		if !i.tracks[k].Same(tracks[k]) {
			return false
		}
	}
	return true
}

// part is a partial segment: one CMAF fragment.
type part struct {
	dur         time.Duration
	independent bool // starts with a keyframe
	data        []byte
}

// segment is a media segment, open while its parts are being cut.
type segment struct {
	msn      uint64
	init     *initSegment
	disc     bool      // EXT-X-DISCONTINUITY before it
	pdt      time.Time // wall-clock time of its first sample
	parts    []*part
	dur      time.Duration // sum of its parts
	complete bool          // served as its parts back to back, never copied
}

// segmenter cuts a stream's messages into parts and GOP-aligned segments.
// It runs on its remuxer's goroutine; the remuxer holds the lock readers
// take while it runs, so what it publishes is read consistently.
type segmenter struct {
	cfg Config
	log *slog.Logger

	vSeq, aSeq     []byte      // current sequence headers as received
	vTrack, aTrack *fmp4.Track // tracks of the current headers
	frag           cutter
	init           *initSegment // of the open or last segment
	nextInit       int

	cur       *segment   // open segment, nil before the first keyframe
	segments  []*segment // complete segments in the window, oldest first
	nextMSN   uint64
	discSeq   uint64 // discontinuities dropped off the window's front
	needDisc  bool   // the next segment follows a break in the media
	segStart  int64  // ms
	partStart int64  // ms
	partKey   bool   // the open part starts with a keyframe
	lastVideo int64  // dts of the newest video frame, ms
	lastDelta int64  // distance between the two newest video frames
	mediaEnd  int64  // where the newest sample ends (estimated for video), ms
	audioOnly bool

	wallBase time.Time // wall clock at dtsBase
	dtsBase  int64
	started  bool

	// changed is called after every new part (with the lock held).
	changed func()
}

func newSegmenter(cfg Config, log *slog.Logger, changed func()) *segmenter {
	return &segmenter{cfg: cfg, log: log, changed: changed, nextInit: 1}
}

// handle takes one tapped message (timestamps on the stream's timeline).
// gap says messages were dropped just before it.
func (s *segmenter) handle(typ uint8, ts uint32, p []byte, gap bool) {
	if gap {
		s.breakMedia()
	}
	dts := int64(ts)
	switch typ {
	case rtmp.TypeVideo:
		if rtmp.IsVideoSequenceHeader(p) {
			s.videoHeader(p)
			return
		}
		if fr, ok := fmp4.VideoFrame(p); ok && s.vTrack != nil {
			s.video(dts, fr)
		}
	case rtmp.TypeAudio:
		if rtmp.IsAudioSequenceHeader(p) {
			s.audioHeader(p)
			return
		}
		if fr, ok := fmp4.AudioFrame(p); ok && s.aTrack != nil {
			s.audio(dts, fr)
		}
	}
}

func (s *segmenter) videoHeader(p []byte) {
	if string(p) == string(s.vSeq) {
		return
	}
	s.vSeq = append(s.vSeq[:0], p...)
	t, err := fmp4.NewVideoTrack(1, p)
	if err != nil {
		s.log.Warn("hls: video not remuxed", "err", err)
	}
	s.vTrack = t
	s.settingsChanged()
}

func (s *segmenter) audioHeader(p []byte) {
	if string(p) == string(s.aSeq) {
		return
	}
	s.aSeq = append(s.aSeq[:0], p...)
	t, err := fmp4.NewAudioTrack(2, p)
	if err != nil {
		s.log.Warn("hls: audio not remuxed", "err", err)
	}
	s.aTrack = t
	s.settingsChanged()
}

// settingsChanged ends the open segment: what follows needs another init
// segment, built at the next segment's start, when both headers are in.
func (s *segmenter) settingsChanged() {
	if s.cur != nil {
		s.breakMedia()
	}
}

// breakMedia closes the open segment with what it has; the next one
// starts at a keyframe after an EXT-X-DISCONTINUITY.
func (s *segmenter) breakMedia() {
	if s.cur == nil {
		return
	}
	s.frag.Flush()
	s.closePart(s.mediaEnd)
	s.closeSegment()
	s.cur, s.needDisc = nil, true
}

func (s *segmenter) video(dts int64, fr fmp4.Frame) {
	if s.audioOnly { // video appeared in an audio-only stream
		s.breakMedia()
		s.audioOnly = false
	}
	if s.cur == nil {
		if !fr.Key {
			return
		}
		s.startSegment(dts, true)
		s.frag.AddVideo(dts, fr)
		s.lastVideo, s.lastDelta, s.mediaEnd = dts, 0, dts+40
		return
	}
	if dts > s.lastVideo {
		s.lastDelta = dts - s.lastVideo
	}
	s.lastVideo, s.mediaEnd = dts, dts+s.lastDelta
	s.frag.AddVideo(dts, fr) // completes the previous frame
	switch {
	case fr.Key && dts-s.segStart >= s.cfg.SegmentTarget.Milliseconds():
		s.cutVideoPart(dts)
		s.closeSegment()
		s.startSegment(dts, false)
	case fr.Key || dts-s.partStart+s.lastDelta > s.cfg.PartTarget.Milliseconds():
		// A keyframe starts an independent part, where a player may join;
		// otherwise the part ends before the next frame would overrun the
		// part target.
		s.cutVideoPart(dts)
		s.partKey = fr.Key
	}
}

// cutVideoPart closes the open part before the frame at dts. A frame
// later than the steady rate predicted (a jump in the publisher's clock,
// a loop of its file) would make the part longer than the part target;
// then the part's last frame is shortened to end on target and the next
// part starts at dts, leaving a small gap players step over.
func (s *segmenter) cutVideoPart(dts int64) {
	end, limit := dts, s.partStart+s.cfg.PartTarget.Milliseconds()
	if end > limit {
		end = limit
		s.frag.EndVideoAt(end)
	}
	s.closePart(end)
	s.partStart = dts
}

// audioFrameMS is an AAC frame's duration in ms, rounded up.
func (s *segmenter) audioFrameMS() int64 {
	return (fmp4.FrameSamples*1000 + int64(s.aTrack.Rate) - 1) / int64(s.aTrack.Rate)
}

func (s *segmenter) audio(dts int64, fr fmp4.Frame) {
	if s.vTrack != nil && !s.audioOnly {
		if s.cur != nil {
			s.frag.AddAudio(dts, fr)
		}
		return // video leads; audio before the first keyframe is dropped
	}
	// Audio-only: every frame is a place to start.
	if s.cur == nil {
		s.audioOnly = true
		s.startSegment(dts, true)
	}
	s.frag.AddAudio(dts, fr)
	end := dts + s.audioFrameMS()
	s.mediaEnd = end
	if end+s.audioFrameMS()-s.partStart > s.cfg.PartTarget.Milliseconds() {
		s.closePart(end)
		if end-s.segStart >= s.cfg.SegmentTarget.Milliseconds() {
			s.closeSegment()
			s.startSegment(end, false)
		}
	}
}

// anchor says the media at dts was live at wall: the program date-times
// of everything, replayed media included, follow from it.
func (s *segmenter) anchor(dts int64, wall time.Time) {
	s.wallBase, s.dtsBase, s.started = wall, dts, true
}

// startSegment opens a segment at dts. fresh says the media (re)starts
// here: a new fragmenter, and a new init segment if the tracks changed
// (a gap from dropped messages keeps the one it has).
func (s *segmenter) startSegment(dts int64, fresh bool) {
	if !s.started {
		s.wallBase, s.dtsBase, s.started = time.Now(), dts, true
	}
	if fresh {
		v := s.vTrack
		if s.audioOnly {
			v = nil
		}
		s.frag = newCutter(s.cfg.Format, v, s.aTrack)
		if tracks := s.frag.Tracks(); s.cfg.Format != FormatTS && !s.init.describes(tracks) {
			s.init = &initSegment{id: s.nextInit, data: fmp4.InitSegment(tracks...), tracks: tracks}
			s.nextInit++
		}
	}
	s.cur = &segment{msn: s.nextMSN, init: s.init, disc: s.needDisc && s.nextMSN > 0,
		pdt: s.wallBase.Add(time.Duration(dts-s.dtsBase) * time.Millisecond)}
	s.nextMSN++
	s.needDisc = false
	s.segStart, s.partStart, s.partKey = dts, dts, true
}

// closePart cuts the complete samples into the open segment's next part,
// ending at end (ms).
func (s *segmenter) closePart(end int64) {
	if s.cur == nil || !s.frag.Ready() {
		return
	}
	d := end - s.partStart
	if d <= 0 {
		d = 1
	}
	pt := &part{dur: time.Duration(d) * time.Millisecond, independent: s.partKey || s.audioOnly, data: s.frag.AppendFragment(nil)}
	s.cur.parts = append(s.cur.parts, pt)
	s.cur.dur += pt.dur
	s.partStart = end
	s.changed()
}

// closeSegment completes the open segment and drops the oldest beyond
// the window.
func (s *segmenter) closeSegment() {
	c := s.cur
	if c == nil {
		return
	}
	s.cur = nil
	if len(c.parts) == 0 {
		s.nextMSN-- // nothing was cut: its number is reused
		return
	}
	c.complete = true
	s.segments = append(s.segments, c)
	for len(s.segments) > s.cfg.Window {
		if s.segments[0].disc {
			s.discSeq++ // its tag leaves the playlist: the count moves to the header
		}
		s.segments[0] = nil
		s.segments = s.segments[1:]
	}
	s.changed()
}
