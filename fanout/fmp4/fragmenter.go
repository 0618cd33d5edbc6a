package fmp4

// Fragmenter gathers the samples of a video and an audio track (either may
// be nil) as they arrive, in decode order per track with millisecond
// timestamps, and cuts them into fragments when its caller decides: after
// every message, every part, or every GOP. A video sample's duration is
// the distance to the next one, so the newest video frame stays pending
// until its successor arrives; audio frames are complete on arrival (an
// AAC frame is always FrameSamples long).
type Fragmenter struct {
	video, audio *Track
	seq          uint32

	pending    Sample // newest video frame, duration unknown (held by value: no allocation per frame)
	hasPending bool
	pendingDTS int64  // its decode time in ticks
	lastDur    uint32 // duration of the previous video frame, for Flush
	lastDTS    int64  // decode time of the newest complete video frame

	vRun, aRun   []Sample
	vBase, aBase int64 // decode time of the first sample of each run
	aNext        int64 // where the next audio frame is expected, ticks
	aStarted     bool
}

// NewFragmenter returns a Fragmenter for the given tracks; nil leaves a
// kind out. Fragment sequence numbers start at 1.
func NewFragmenter(video, audio *Track) *Fragmenter {
	return &Fragmenter{video: video, audio: audio}
}

// Tracks returns the fragmenter's tracks in init-segment order.
func (f *Fragmenter) Tracks() []*Track {
	var ts []*Track
	if f.video != nil {
		ts = append(ts, f.video)
	}
	if f.audio != nil {
		ts = append(ts, f.audio)
	}
	return ts
}

// AddVideo adds a video frame decoded at dts (ms); fr.Data must stay
// valid until the fragment holding it is appended. The previous frame
// becomes complete and joins the next fragment; this one stays pending.
// A frame whose time goes backwards gets a one-tick duration predecessor
// rather than a negative one.
func (f *Fragmenter) AddVideo(dts int64, fr Frame) {
	if f.video == nil {
		return
	}
	t := f.video.Ticks(dts)
	if f.hasPending {
		d := t - f.pendingDTS
		if d <= 0 {
			d = 1
		}
		f.completeVideo(uint32(d))
	}
	f.pending = Sample{CTO: int32(f.video.Ticks(int64(fr.CTO))), Key: fr.Key, Data: fr.Data}
	f.hasPending, f.pendingDTS = true, t
}

// EndVideoAt shortens the newest complete video frame so that it ends
// by ms: a fragment cut to a fixed duration across a gap in the
// timestamps ends on time, and the next starts where its frame does.
func (f *Fragmenter) EndVideoAt(ms int64) {
	if f.video == nil || len(f.vRun) == 0 {
		return
	}
	last := &f.vRun[len(f.vRun)-1]
	if d := f.video.Ticks(ms) - f.lastDTS; d > 0 && d < int64(last.Duration) {
		last.Duration = uint32(d)
	}
}

func (f *Fragmenter) completeVideo(d uint32) {
	if len(f.vRun) == 0 {
		f.vBase = f.pendingDTS
	}
	f.lastDTS = f.pendingDTS
	f.pending.Duration = d
	f.vRun = append(f.vRun, f.pending)
	f.pending, f.hasPending, f.lastDur = Sample{}, false, d
}

// AddAudio adds an audio frame decoded at dts (ms). Frames that arrive
// fr.Data must stay valid until the fragment holding it is appended.
// Frames that arrive within half a frame of where the previous one ended are placed exactly
// there, so the audio timeline has no millisecond-rounding gaps.
func (f *Fragmenter) AddAudio(dts int64, fr Frame) {
	if f.audio == nil {
		return
	}
	t := f.audio.Ticks(dts)
	if f.aStarted && abs64(t-f.aNext) <= FrameSamples/2 {
		t = f.aNext
	}
	if len(f.aRun) == 0 {
		f.aBase = t
	}
	f.aRun = append(f.aRun, Sample{Duration: FrameSamples, Key: true, Data: fr.Data})
	f.aNext, f.aStarted = t+FrameSamples, true
}

// Ready reports whether a fragment would have any sample.
func (f *Fragmenter) Ready() bool { return len(f.vRun)+len(f.aRun) > 0 }

// Flush completes the pending video frame with the previous frame's
// duration (the stream ended or its settings change).
func (f *Fragmenter) Flush() {
	if f.hasPending {
		d := f.lastDur
		if d == 0 {
			d = uint32(f.video.Timescale / 25)
		}
		f.completeVideo(d)
	}
}

// AppendFragment appends a fragment of every complete sample to dst and
// starts the next; with no sample it returns dst unchanged. Sample data
// is copied into dst: the frames' buffers are free after the call.
func (f *Fragmenter) AppendFragment(dst []byte) []byte {
	if !f.Ready() {
		return dst
	}
	var buf [2]Run // on the stack: a fragment per message allocates nothing
	runs := buf[:0]
	if len(f.vRun) > 0 {
		runs = append(runs, Run{Track: f.video, BaseTime: uint64(f.vBase), Samples: f.vRun})
	}
	if len(f.aRun) > 0 {
		runs = append(runs, Run{Track: f.audio, BaseTime: uint64(f.aBase), Samples: f.aRun})
	}
	f.seq++
	dst = AppendFragment(dst, f.seq, runs...)
	f.vRun, f.aRun = f.vRun[:0], f.aRun[:0]
	return dst
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
