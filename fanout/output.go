package fanout

import (
	"encoding/binary"
	"sync/atomic"
)

// Output is a stream's delivery in one format: that format's encoder and
// wire log, shared by every player of the stream in the format. It exists
// while the format has players: the first player of a format creates it
// (seeded from the stream's GOP cache, so that player starts at once) and
// the last one's leaving drops it.
type Output struct {
	stream *Stream
	format Format
	enc    Encoder
	wire   wireLog

	// Under stream.mu.
	players int
	dropped bool
	prefix  [2][]byte // cached join prefixes: [0] for a rejoin, [1] for a first join
	prefPos [2]uint64 // the start position each was built for
}

// Format is the output's format.
func (o *Output) Format() Format { return o.format }

// Stream is the stream the output delivers.
func (o *Output) Stream() *Stream { return o.stream }

// outputFor returns the stream's output in f, creating it. Called with
// s.mu held: the stream's writer appends under the same lock, so a new
// output misses nothing between its seeding and the next frame.
func (s *Stream) outputFor(f Format) *Output {
	name := f.Name()
	for _, o := range s.outputs {
		if o.format.Name() == name {
			return o
		}
	}
	o := &Output{stream: s, format: f, enc: f.NewEncoder(), prefPos: [2]uint64{noPos, noPos}}
	o.wire.init(s.hub.cfg.LagWindow, s.hub.cfg.MaxCache, &s.logBytes)
	if sd, ok := o.enc.(Seeder); ok {
		sd.Seed(&Headers{Meta: s.meta, VideoSeq: s.videoSeq, AudioSeq: s.audioSeq})
	}
	s.gop.replay(func(fr *Frame) { o.enc.Encode(&o.wire, fr) })
	s.outputs = append(s.outputs, o)
	return o
}

// dropOutput forgets an output without players and frees its log. Blocks
// under a write in flight stay pinned by that write. Called with s.mu held.
func (s *Stream) dropOutput(o *Output) {
	for i, x := range s.outputs {
		if x == o {
			last := len(s.outputs) - 1
			s.outputs[i], s.outputs[last] = s.outputs[last], nil
			s.outputs = s.outputs[:last]
			break
		}
	}
	o.dropped = true
	o.wire.release()
}

// joinPrefix returns what a player starting at startPos gets first,
// stamped with ts. It is built once per GOP and shared by its joiners. A
// player rejoining after a publisher change (first false) gets only the
// headers that changed (resumeState).
func (o *Output) joinPrefix(startPos uint64, ts uint32, first bool) []byte {
	s := o.stream
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	if first {
		i = 1
	}
	if o.prefPos[i] != startPos {
		h := Headers{Meta: s.meta, VideoSeq: s.videoSeq, AudioSeq: s.audioSeq}
		if !first {
			h = s.resume.changed(h)
		}
		o.prefix[i], o.prefPos[i] = o.enc.AppendJoin(nil, &h, ts, first), startPos
	}
	return o.prefix[i]
}

// headersChanged invalidates the cached join prefixes. Called with s.mu held.
func (s *Stream) headersChanged() {
	for _, o := range s.outputs {
		o.prefPos = [2]uint64{noPos, noPos}
	}
}

// gopCache keeps, format-neutral, the frames from the newest start frame
// on, so that an Output created mid-GOP — the first player of a format —
// starts at once at that keyframe instead of waiting for the next one.
// Its buffer is reused GOP after GOP: steady state allocates nothing.
type gopCache struct {
	buf     []byte // records: type (1), timestamp (4), key (1), length (4), payload
	max     int
	started bool // a start frame was seen since the last reset
}

const gopRecordHeader = 10

func (g *gopCache) add(f *Frame) {
	if f.Key {
		g.buf, g.started = g.buf[:0], true
	}
	if !g.started {
		return
	}
	if len(g.buf)+gopRecordHeader+len(f.Payload) > g.max {
		g.reset() // the GOP outgrew the cache: new outputs wait for the next keyframe
		return
	}
	key := byte(0)
	if f.Key {
		key = 1
	}
	g.buf = append(g.buf, f.Type)
	g.buf = binary.BigEndian.AppendUint32(g.buf, f.Timestamp)
	g.buf = append(g.buf, key)
	g.buf = binary.BigEndian.AppendUint32(g.buf, uint32(len(f.Payload)))
	g.buf = append(g.buf, f.Payload...)
}

// reset forgets the cached GOP (a publisher left or came back).
func (g *gopCache) reset() { g.buf, g.started = g.buf[:0], false }

// size is the cached GOP's payload and record bytes.
func (g *gopCache) size() int { return len(g.buf) }

func (g *gopCache) replay(fn func(*Frame)) {
	for b := g.buf; len(b) >= gopRecordHeader; {
		n := int(binary.BigEndian.Uint32(b[6:]))
		f := Frame{Type: b[0], Timestamp: binary.BigEndian.Uint32(b[1:]), Key: b[5] == 1, Payload: b[gopRecordHeader : gopRecordHeader+n]}
		fn(&f)
		b = b[gopRecordHeader+n:]
	}
}

// logBytesCounter is what every output's wire log adds its appends to: the
// stream's total of serialized bytes, which outlives any one output.
type logBytesCounter = atomic.Uint64
