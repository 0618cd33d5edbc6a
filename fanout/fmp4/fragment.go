package fmp4

import "encoding/binary"

// Sample is one media sample of a fragment, its times in the track's
// timescale.
type Sample struct {
	Duration uint32
	CTO      int32 // composition time offset (presentation minus decode time)
	Key      bool  // sync sample
	Data     []byte
}

// Run is one track's samples in a fragment, starting at decode time
// BaseTime (tfdt).
type Run struct {
	Track    *Track
	BaseTime uint64
	Samples  []Sample
}

// Sample flags (ISO/IEC 14496-12, 8.8.3.1): a sync sample depends on no
// other; any other depends on others and is not a sync sample.
const (
	flagsSync    = 0x02000000
	flagsNonSync = 0x01010000
)

// trun flags: data offset, and per-sample duration, size, flags and
// composition offset.
const trunFlags = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800

// AppendFragment appends a CMAF fragment — one moof with a traf per run,
// then one mdat with the runs' sample data in the same order — to dst.
// seq is the fragment's sequence number (mfhd), increasing from 1.
func AppendFragment(dst []byte, seq uint32, runs ...Run) []byte {
	w := &boxWriter{b: dst}
	moofStart := len(w.b)
	moof := w.start("moof")
	mfhd := w.full("mfhd", 0, 0)
	w.u32(seq)
	w.end(mfhd)
	var offBuf [4]int // where each trun's data_offset goes; on the stack for up to 4 runs
	offsets := offBuf[:0]
	for _, r := range runs {
		traf := w.start("traf")
		tfhd := w.full("tfhd", 0, 0x020000) // default-base-is-moof
		w.u32(r.Track.ID)
		w.end(tfhd)
		tfdt := w.full("tfdt", 1, 0)
		w.u64(r.BaseTime)
		w.end(tfdt)
		trun := w.full("trun", 1, trunFlags) // version 1: signed offsets
		w.u32(uint32(len(r.Samples)))
		offsets = append(offsets, len(w.b))
		w.u32(0)
		for _, s := range r.Samples {
			w.u32(s.Duration)
			w.u32(uint32(len(s.Data)))
			if s.Key {
				w.u32(flagsSync)
			} else {
				w.u32(flagsNonSync)
			}
			w.u32(uint32(s.CTO))
		}
		w.end(trun)
		w.end(traf)
	}
	w.end(moof)
	mdat := w.start("mdat")
	for i, r := range runs {
		binary.BigEndian.PutUint32(w.b[offsets[i]:], uint32(len(w.b)-moofStart))
		for _, s := range r.Samples {
			w.raw(s.Data)
		}
	}
	w.end(mdat)
	return w.b
}
