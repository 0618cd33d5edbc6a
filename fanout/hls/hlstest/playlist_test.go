package hlstest

import (
	"strings"
	"testing"
	"time"
)

const good = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600,HOLD-BACK=6
#EXT-X-PART-INF:PART-TARGET=0.200
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-DISCONTINUITY-SEQUENCE:1
#EXT-X-MAP:URI="init-a-1.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z
#EXTINF:2.000,
a-7.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init-a-2.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000Z
#EXT-X-PART:DURATION=0.200,URI="a-8.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.200,URI="a-8.1.m4s"
#EXTINF:0.400,
a-8.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.400Z
#EXT-X-PART:DURATION=0.200,URI="a-9.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="a-9.1.m4s"
`

func TestParseAndValidate(t *testing.T) {
	pl, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(pl.Segments) != 2 || pl.Segments[1].MSN != 8 || pl.Segments[1].DSN != 2 || pl.Segments[1].Map != "init-a-2.mp4" ||
		len(pl.Pending) != 1 || pl.PreloadHint != "a-9.1.m4s" || pl.PartTarget != 0.2 ||
		!pl.PendingPDT.Equal(time.Date(2026, 1, 1, 0, 0, 2, 400e6, time.UTC)) {
		t.Fatalf("parsed %+v", pl)
	}
}

func TestValidateCatches(t *testing.T) {
	cases := []struct{ name, from, to, want string }{
		{"long part", "DURATION=0.200,URI=\"a-8.1.m4s\"", "DURATION=0.250,URI=\"a-8.1.m4s\"", "more than the part target"},
		{"sum", "#EXTINF:0.400,", "#EXTINF:0.500,", "parts sum"},
		{"long segment", "#EXTINF:2.000,", "#EXTINF:2.600,", "more than the target duration"},
		{"no block", "CAN-BLOCK-RELOAD=YES,", "", "CAN-BLOCK-RELOAD"},
		{"no hint", "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"a-9.1.m4s\"\n", "", "PRELOAD-HINT"},
		{"no map", "#EXT-X-MAP:URI=\"init-a-1.mp4\"\n", "", "no EXT-X-MAP"},
		{"dependent start", "URI=\"a-8.0.m4s\",INDEPENDENT=YES", "URI=\"a-8.0.m4s\"", "independent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pl, err := Parse([]byte(strings.Replace(good, tc.from, tc.to, 1)))
			if err != nil {
				t.Fatal(err)
			}
			if err := pl.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestContinues(t *testing.T) {
	a, _ := Parse([]byte(good))
	b, _ := Parse([]byte(strings.Replace(good, "#EXT-X-DISCONTINUITY\n", "", 1)))
	if err := a.Continues(a); err != nil {
		t.Fatal(err)
	}
	if err := a.Continues(b); err == nil {
		t.Fatal("a lost discontinuity went unnoticed")
	}
	c, _ := Parse([]byte(strings.Replace(good, "MEDIA-SEQUENCE:7", "MEDIA-SEQUENCE:6", 1)))
	if err := a.Continues(c); err == nil {
		t.Fatal("a media sequence going back went unnoticed")
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"", "#EXTM3X\n", "#EXTM3U\n#EXTINF:x,\na.ts\n", "#EXTM3U\na.ts\n", "#EXTM3U\n#EXTINF:1,\n",
		"#EXTM3U\n#EXT-X-PART:DURATION=0.2\n", "#EXTM3U\n#EXT-X-TARGETDURATION:two\n"} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
}

// FuzzParse: any input parses or fails cleanly, and what parses
// validates or fails cleanly.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("#EXTM3U\n#EXT-X-PART:URI=\"a,b\",DURATION=1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pl, err := Parse(b)
		if err != nil {
			return
		}
		_ = pl.Validate()
		_ = pl.Continues(pl)
	})
}
