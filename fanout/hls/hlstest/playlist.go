// Package hlstest is test support for HLS: a media playlist parser and a
// validator of the LL-HLS rules the server must keep (RFC 8216 and its
// low-latency extension, draft-pantos-hls-rfc8216bis), independent of the
// code that writes playlists.
package hlstest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Playlist is a parsed media playlist.
type Playlist struct {
	Version               int
	TargetDuration        int
	MediaSequence         uint64
	DiscontinuitySequence uint64
	PartTarget            float64 // 0 without EXT-X-PART-INF
	CanBlockReload        bool
	PartHoldBack          float64
	Segments              []Segment // complete segments, in order
	Pending               []Part    // parts of the segment being cut
	PendingMap            string    // init segment of the pending parts
	PendingPDT            time.Time // EXT-X-PROGRAM-DATE-TIME of the segment being cut, zero if none
	PreloadHint           string    // URI of EXT-X-PRELOAD-HINT TYPE=PART
}

// Segment is one complete media segment.
type Segment struct {
	MSN           uint64
	URI           string
	Duration      float64
	Map           string // the EXT-X-MAP in effect
	Discontinuity bool
	DSN           uint64 // discontinuity sequence number
	PDT           time.Time
	Parts         []Part // listed parts, if any
}

// Part is one EXT-X-PART.
type Part struct {
	URI         string
	Duration    float64
	Independent bool
}

// Parse reads a media playlist. It rejects what is malformed, not what
// breaks the rules (that is Validate's job).
func Parse(b []byte) (*Playlist, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	if !sc.Scan() || strings.TrimSpace(sc.Text()) != "#EXTM3U" {
		return nil, errors.New("hlstest: no #EXTM3U first line")
	}
	pl := &Playlist{}
	var (
		cur      Segment
		extinf   = -1.0
		mapURI   string
		msnSet   bool
		segCount uint64
		dsn      uint64
	)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "#") { // a segment URI
			if extinf < 0 {
				return nil, fmt.Errorf("hlstest: URI %q without #EXTINF", line)
			}
			cur.URI, cur.Duration, cur.Map = line, extinf, mapURI
			cur.MSN = pl.MediaSequence + segCount
			if cur.Discontinuity {
				dsn++
			}
			cur.DSN = pl.DiscontinuitySequence + dsn
			pl.Segments = append(pl.Segments, cur)
			segCount++
			cur, extinf = Segment{}, -1
			continue
		}
		tag, val, _ := strings.Cut(line, ":")
		var err error
		switch tag {
		case "#EXT-X-VERSION":
			pl.Version, err = strconv.Atoi(val)
		case "#EXT-X-TARGETDURATION":
			pl.TargetDuration, err = strconv.Atoi(val)
		case "#EXT-X-MEDIA-SEQUENCE":
			if segCount > 0 || msnSet {
				return nil, errors.New("hlstest: EXT-X-MEDIA-SEQUENCE after a segment or twice")
			}
			pl.MediaSequence, err = strconv.ParseUint(val, 10, 64)
			msnSet = true
		case "#EXT-X-DISCONTINUITY-SEQUENCE":
			pl.DiscontinuitySequence, err = strconv.ParseUint(val, 10, 64)
		case "#EXT-X-PART-INF":
			pl.PartTarget, err = floatAttr(attrs(val), "PART-TARGET")
		case "#EXT-X-SERVER-CONTROL":
			a := attrs(val)
			pl.CanBlockReload = a["CAN-BLOCK-RELOAD"] == "YES"
			if _, ok := a["PART-HOLD-BACK"]; ok {
				pl.PartHoldBack, err = floatAttr(a, "PART-HOLD-BACK")
			}
		case "#EXT-X-MAP":
			mapURI = attrs(val)["URI"]
			if mapURI == "" {
				err = errors.New("EXT-X-MAP without URI")
			}
		case "#EXT-X-DISCONTINUITY":
			cur.Discontinuity = true
		case "#EXT-X-PROGRAM-DATE-TIME":
			cur.PDT, err = time.Parse(time.RFC3339Nano, val)
		case "#EXT-X-PART":
			a := attrs(val)
			p := Part{URI: a["URI"], Independent: a["INDEPENDENT"] == "YES"}
			p.Duration, err = floatAttr(a, "DURATION")
			if p.URI == "" {
				err = errors.New("EXT-X-PART without URI")
			}
			cur.Parts = append(cur.Parts, p)
		case "#EXTINF":
			d, _, _ := strings.Cut(val, ",")
			extinf, err = strconv.ParseFloat(d, 64)
			if err == nil && (extinf < 0 || math.IsNaN(extinf) || math.IsInf(extinf, 0)) {
				err = errors.New("bad duration")
			}
		case "#EXT-X-PRELOAD-HINT":
			a := attrs(val)
			if a["TYPE"] == "PART" {
				pl.PreloadHint = a["URI"]
			}
		}
		if err != nil {
			return nil, fmt.Errorf("hlstest: %s: %v", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if extinf >= 0 {
		return nil, errors.New("hlstest: #EXTINF without a URI at the end")
	}
	pl.Pending, pl.PendingMap, pl.PendingPDT = cur.Parts, mapURI, cur.PDT
	return pl, nil
}

// attrs parses an attribute list (KEY=VALUE,KEY="quoted, value").
func attrs(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			return out
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return out
			}
			v, rest = rest[1:1+end], rest[2+end:]
			rest = strings.TrimPrefix(rest, ",")
		} else {
			v, rest, _ = strings.Cut(rest, ",")
		}
		out[strings.TrimSpace(k)] = v
		s = rest
	}
	return out
}

func floatAttr(a map[string]string, k string) (float64, error) {
	v, ok := a[k]
	if !ok {
		return 0, fmt.Errorf("no %s", k)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err == nil && (f < 0 || math.IsNaN(f) || math.IsInf(f, 0)) {
		err = fmt.Errorf("%s %v out of range", k, f)
	}
	return f, err
}
