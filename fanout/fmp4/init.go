package fmp4

// InitSegment returns the CMAF header (ftyp + moov) describing tracks, in
// the order given. Fragments of these tracks follow it.
func InitSegment(tracks ...*Track) []byte {
	w := &boxWriter{b: make([]byte, 0, 1024)}
	f := w.start("ftyp")
	w.raw([]byte("iso6"))
	w.u32(0)
	w.raw([]byte("iso6cmfcisommp41"))
	w.end(f)

	moov := w.start("moov")
	writeMVHD(w, uint32(len(tracks)+1))
	for _, t := range tracks {
		writeTrak(w, t)
	}
	mvex := w.start("mvex")
	for _, t := range tracks {
		trex := w.full("trex", 0, 0)
		w.u32(t.ID)
		w.u32(1) // default sample description index
		w.u32(0) // duration, size and flags are in every trun
		w.u32(0)
		w.u32(0)
		w.end(trex)
	}
	w.end(mvex)
	w.end(moov)
	return w.b
}

func writeMVHD(w *boxWriter, nextTrack uint32) {
	b := w.full("mvhd", 0, 0)
	w.u32(0)    // creation time
	w.u32(0)    // modification time
	w.u32(1000) // timescale
	w.u32(0)    // duration: unknown, the movie is live
	w.u32(0x00010000)
	w.u16(0x0100)
	w.zeros(10)
	w.matrix()
	w.zeros(24) // pre_defined
	w.u32(nextTrack)
	w.end(b)
}

func writeTrak(w *boxWriter, t *Track) {
	trak := w.start("trak")
	tkhd := w.full("tkhd", 0, 3) // enabled, in movie
	w.u32(0)
	w.u32(0)
	w.u32(t.ID)
	w.u32(0)
	w.u32(0) // duration
	w.zeros(8)
	w.u16(0) // layer
	w.u16(0) // alternate group
	if t.Kind == Audio {
		w.u16(0x0100)
	} else {
		w.u16(0)
	}
	w.u16(0)
	w.matrix()
	w.u32(uint32(t.Width) << 16)
	w.u32(uint32(t.Height) << 16)
	w.end(tkhd)

	mdia := w.start("mdia")
	mdhd := w.full("mdhd", 0, 0)
	w.u32(0)
	w.u32(0)
	w.u32(t.Timescale)
	w.u32(0)
	w.u16(0x55c4) // language "und"
	w.u16(0)
	w.end(mdhd)
	hdlr := w.full("hdlr", 0, 0)
	w.u32(0)
	if t.Kind == Video {
		w.raw([]byte("vide"))
	} else {
		w.raw([]byte("soun"))
	}
	w.zeros(12)
	w.raw([]byte("bbllive\x00"))
	w.end(hdlr)

	minf := w.start("minf")
	if t.Kind == Video {
		v := w.full("vmhd", 0, 1)
		w.zeros(8)
		w.end(v)
	} else {
		s := w.full("smhd", 0, 0)
		w.zeros(4)
		w.end(s)
	}
	dinf := w.start("dinf")
	dref := w.full("dref", 0, 0)
	w.u32(1)
	url := w.full("url ", 0, 1) // media in the same file
	w.end(url)
	w.end(dref)
	w.end(dinf)
	writeSTBL(w, t)
	w.end(minf)
	w.end(mdia)
	w.end(trak)
}

// writeSTBL writes the sample table: the sample entry, and empty tables
// because every sample lives in fragments.
func writeSTBL(w *boxWriter, t *Track) {
	stbl := w.start("stbl")
	stsd := w.full("stsd", 0, 0)
	w.u32(1)
	if t.Kind == Video {
		writeVisualEntry(w, t)
	} else {
		writeAudioEntry(w, t)
	}
	w.end(stsd)
	for _, typ := range []string{"stts", "stsc", "stco"} {
		b := w.full(typ, 0, 0)
		w.u32(0)
		w.end(b)
	}
	stsz := w.full("stsz", 0, 0)
	w.u32(0)
	w.u32(0)
	w.end(stsz)
	w.end(stbl)
}

func writeVisualEntry(w *boxWriter, t *Track) {
	e := w.start(t.fourCC)
	w.zeros(6)
	w.u16(1) // data reference index
	w.zeros(16)
	w.u16(uint16(t.Width))
	w.u16(uint16(t.Height))
	w.u32(0x00480000) // 72 dpi
	w.u32(0x00480000)
	w.u32(0)
	w.u16(1) // frame count
	w.zeros(32)
	w.u16(0x0018)
	w.u16(0xffff)
	c := w.start(configBox(t.fourCC))
	w.raw(t.config)
	w.end(c)
	w.end(e)
}

// configBox names the decoder configuration box of a sample entry.
func configBox(fourCC string) string {
	switch fourCC {
	case "hvc1":
		return "hvcC"
	case "av01":
		return "av1C"
	}
	return "avcC"
}

func writeAudioEntry(w *boxWriter, t *Track) {
	e := w.start(t.fourCC)
	w.zeros(6)
	w.u16(1)
	w.zeros(8)
	w.u16(uint16(t.Channels))
	w.u16(16) // sample size
	w.u32(0)
	w.u32(uint32(t.Rate) << 16 & 0xffff0000)
	appendESDS(w, t.ID, t.config)
	w.end(e)
}
