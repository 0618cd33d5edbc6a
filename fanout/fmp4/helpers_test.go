package fmp4

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/rtmp"
)

// box is one parsed ISO-BMFF box; children are parsed for containers.
type box struct {
	typ      string
	body     []byte
	children []box
}

var containers = map[string]bool{"moov": true, "trak": true, "mdia": true, "minf": true, "stbl": true,
	"dinf": true, "mvex": true, "moof": true, "traf": true}

// parseBoxes splits b into boxes, recursing into containers, and fails on
// any size that does not add up.
func parseBoxes(b []byte) ([]box, error) {
	var out []box
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("%d trailing bytes", len(b))
		}
		n := int(binary.BigEndian.Uint32(b))
		if n < 8 || n > len(b) {
			return nil, fmt.Errorf("box %q size %d of %d", b[4:8], n, len(b))
		}
		bx := box{typ: string(b[4:8]), body: b[8:n]}
		if containers[bx.typ] {
			kids, err := parseBoxes(bx.body)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", bx.typ, err)
			}
			bx.children = kids
		}
		out = append(out, bx)
		b = b[n:]
	}
	return out, nil
}

// find returns the first box at the path ("moov/trak/tkhd").
func find(bs []box, path ...string) (box, bool) {
	for _, b := range bs {
		if b.typ == path[0] {
			if len(path) == 1 {
				return b, true
			}
			return find(b.children, path[1:]...)
		}
	}
	return box{}, false
}

func mustParse(t *testing.T, b []byte) []box {
	t.Helper()
	bs, err := parseBoxes(b)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// synthStream returns n seconds of the project's synthetic H.264 + AAC
// stream as RTMP messages, sequence headers first.
func synthStream(t testing.TB, cfg synth.Config, d time.Duration) []*rtmp.Message {
	t.Helper()
	src, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []*rtmp.Message
	for {
		m, at := src.Next()
		if at > d {
			return out
		}
		out = append(out, &rtmp.Message{Type: m.Type, Timestamp: m.Timestamp, Payload: append([]byte(nil), m.Payload...)})
	}
}
