package rtmp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// hx decodes hex written with optional spaces, for readable vectors.
func amfHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Vectors captured from ffmpeg 5.1 (Lavf59.27.100) on this machine: the
// connect body it sends to play rtmp://127.0.0.1:19351/live/test and to
// publish to rtmp://127.0.0.1:19352/live/test, and the onMetaData script tag
// it writes into an FLV of 64x64 H.264 at 25 fps with AAC.
var (
	ffmpegPlayConnect = amfHex("020007636f6e6e656374003ff00000000000000300036170700200046c6976650008666c61736856657202000d4c4e5820392c302c3132342c320005746355726c02001b72746d703a2f2f3132372e302e302e313a31393335312f6c6976650004667061640100000c6361706162696c697469657300402e000000000000000b617564696f436f646563730040afce0000000000000b766964656f436f6465637300406f800000000000000d766964656f46756e6374696f6e003ff0000000000000000009")

	ffmpegPublishConnect = amfHex("020007636f6e6e656374003ff00000000000000300036170700200046c69766500047479706502000a6e6f6e707269766174650008666c617368566572020024464d4c452f332e302028636f6d70617469626c653b204c61766635392e32372e313030290005746355726c02001b72746d703a2f2f3132372e302e302e313a31393335322f6c697665000009")

	ffmpegOnMetaData = amfHex("02000a6f6e4d65746144617461080000000d00086475726174696f6e003fd1eb851eb851ec000577696474680040500000000000000006686569676874004050000000000000000d766964656f646174617261746500000000000000000000096672616d6572617465004039000000000000000c766964656f636f646563696400401c000000000000000d617564696f6461746172617465004050d88000000000000f617564696f73616d706c65726174650040e5888000000000000f617564696f73616d706c6573697a65004030000000000000000673746572656f0100000c617564696f636f64656369640040240000000000000007656e636f64657202000d4c61766635392e32372e313030000866696c6573697a650040b0aa0000000000000009")

	// onStatus("NetStream.Play.Start") as a server sends it, encoded by hand.
	onStatusPlayStart = amfHex("0200086f6e537461747573000000000000000000050300056c6576656c0200067374617475730004636f64650200144e657453747265616d2e506c61792e5374617274000b6465736372697074696f6e02000a5374617274206c697665000009")
)

// AMF3 vectors. The last two come from the test suite of php-amf3 (an
// independent encoder): sealed objects of class test1 sharing traits, with
// a string reference and an object reference; and anonymous objects whose
// member names are string references.
var (
	amf3StringRefs  = amfHex("09 09 01 06 07616263 06 00 06 01 06 00")
	amf3DynamicNest = amfHex("0a0b010970726f700a01036104010101")
	amf3SealedRefs  = amfHex("0907010a330b746573743103610362036306020605626206076363630a010605613206076262320609636363320a02")
	amf3AnonRefs    = amfHex("0a0b0103610a010331047b033204816a03330482590103620a0102047b0404816a060482590103630a0102047b0404816a060482590101")
)

func TestAMF0DecodeFFmpegConnect(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want []any
	}{
		{"play", ffmpegPlayConnect, []any{"connect", 1.0, Object{
			{"app", "live"},
			{"flashVer", "LNX 9,0,124,2"},
			{"tcUrl", "rtmp://127.0.0.1:19351/live"},
			{"fpad", false},
			{"capabilities", 15.0},
			{"audioCodecs", 4071.0},
			{"videoCodecs", 252.0},
			{"videoFunction", 1.0},
		}}},
		{"publish", ffmpegPublishConnect, []any{"connect", 1.0, Object{
			{"app", "live"},
			{"type", "nonprivate"},
			{"flashVer", "FMLE/3.0 (compatible; Lavf59.27.100)"},
			{"tcUrl", "rtmp://127.0.0.1:19352/live"},
		}}},
		{"onStatus", onStatusPlayStart, []any{"onStatus", 0.0, nil, Object{
			{"level", "status"},
			{"code", "NetStream.Play.Start"},
			{"description", "Start live"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeAMF0All(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("decoded\n%#v\nwant\n%#v", got, tt.want)
			}
			enc, err := AppendAMF0(nil, tt.want...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, tt.body) {
				t.Fatalf("re-encoded\n%x\nwant\n%x", enc, tt.body)
			}
		})
	}
}

func TestAMF0OnMetaData(t *testing.T) {
	vals, err := DecodeAMF0All(ffmpegOnMetaData)
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != 2 || vals[0] != "onMetaData" {
		t.Fatalf("got %#v", vals)
	}
	md, ok := vals[1].(ECMAArray)
	if !ok {
		t.Fatalf("metadata is %T, want ECMAArray", vals[1])
	}
	if len(md) != 13 {
		t.Errorf("%d entries, want 13", len(md))
	}
	nums := map[string]float64{"width": 64, "height": 64, "framerate": 25, "videocodecid": 7, "audiocodecid": 10, "audiosamplerate": 44100}
	for k, want := range nums {
		if got := md.Number(k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if got := md.String("encoder"); got != "Lavf59.27.100" {
		t.Errorf("encoder = %q", got)
	}
	if v, ok := md.Get("stereo"); !ok || v != false {
		t.Errorf("stereo = %v, %v", v, ok)
	}
	enc, err := AppendAMF0(nil, vals...)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, ffmpegOnMetaData) {
		t.Fatalf("re-encoded\n%x\nwant\n%x", enc, ffmpegOnMetaData)
	}
}

func TestAMF0PropertyHelpers(t *testing.T) {
	o := Object{{"s", "x"}, {"n", 2.5}, {"b", true}, {"s", "second"}}
	tests := []struct {
		key     string
		wantStr string
		wantNum float64
		wantOK  bool
	}{
		{"s", "x", 0, true},
		{"n", "", 2.5, true},
		{"b", "", 0, true},
		{"missing", "", 0, false},
	}
	for _, tt := range tests {
		if got := o.String(tt.key); got != tt.wantStr {
			t.Errorf("String(%q) = %q, want %q", tt.key, got, tt.wantStr)
		}
		if got := o.Number(tt.key); got != tt.wantNum {
			t.Errorf("Number(%q) = %v, want %v", tt.key, got, tt.wantNum)
		}
		if _, ok := o.Get(tt.key); ok != tt.wantOK {
			t.Errorf("Get(%q) ok = %v", tt.key, ok)
		}
		if got := ECMAArray(o).String(tt.key); got != tt.wantStr {
			t.Errorf("ECMAArray.String(%q) = %q", tt.key, got)
		}
		if got := ECMAArray(o).Number(tt.key); got != tt.wantNum {
			t.Errorf("ECMAArray.Number(%q) = %v", tt.key, got)
		}
	}
}

type amfMyInt int

func TestAMF0RoundTrip(t *testing.T) {
	long := strings.Repeat("x", 70000)
	tests := []struct {
		name string
		in   any
		hex  string // expected encoding; "" to skip the byte check
		want any    // decoded value
	}{
		{"float64", 1.5, "00 3ff8000000000000", 1.5},
		{"negative zero", math.Copysign(0, -1), "00 8000000000000000", math.Copysign(0, -1)},
		{"float32", float32(0.5), "00 3fe0000000000000", 0.5},
		{"int", -3, "00 c008000000000000", -3.0},
		{"int8", int8(-1), "00 bff0000000000000", -1.0},
		{"int16", int16(2), "00 4000000000000000", 2.0},
		{"int32", int32(4), "00 4010000000000000", 4.0},
		{"int64", int64(1) << 40, "00 4270000000000000", float64(1 << 40)},
		{"uint", uint(1), "00 3ff0000000000000", 1.0},
		{"uint8", uint8(255), "00 406fe00000000000", 255.0},
		{"uint16", uint16(2), "00 4000000000000000", 2.0},
		{"uint32", uint32(4), "00 4010000000000000", 4.0},
		{"uint64", uint64(8), "00 4020000000000000", 8.0},
		{"named int", amfMyInt(2), "00 4000000000000000", 2.0},
		{"true", true, "01 01", true},
		{"false", false, "01 00", false},
		{"empty string", "", "02 0000", ""},
		{"string", "abc", "02 0003 616263", "abc"},
		{"long string", long, "", long},
		{"null", nil, "05", nil},
		{"undefined", Undefined{}, "06", Undefined{}},
		{"empty object", Object{}, "03 0000 09", Object{}},
		{"nil object", Object(nil), "03 0000 09", Object{}},
		{"object", Object{{"a", 1.0}, {"b", Object{{"c", nil}}}}, "03 0001 61 00 3ff0000000000000 0001 62 03 0001 63 05 0000 09 0000 09", Object{{"a", 1.0}, {"b", Object{{"c", nil}}}}},
		{"ecma array", ECMAArray{{"k", "v"}}, "08 00000001 0001 6b 02 0001 76 0000 09", ECMAArray{{"k", "v"}}},
		{"empty ecma array", ECMAArray{}, "08 00000000 0000 09", ECMAArray{}},
		{"strict array", StrictArray{1.0, "a", nil}, "0a 00000003 00 3ff0000000000000 02 0001 61 05", StrictArray{1.0, "a", nil}},
		{"[]any", []any{true}, "0a 00000001 01 01", StrictArray{true}},
		{"empty strict array", StrictArray{}, "0a 00000000", StrictArray{}},
		{"date", Date{Millis: 1.5e12, TZ: -60}, "0b 4275d3ef79800000 ffc4", Date{Millis: 1.5e12, TZ: -60}},
		{"map sorted", map[string]any{"b": 2, "a": "x"}, "03 0001 61 02 0001 78 0001 62 00 4000000000000000 0000 09", Object{{"a", "x"}, {"b", 2.0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := AppendAMF0([]byte{0xEE}, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if enc[0] != 0xEE {
				t.Fatal("AppendAMF0 did not append to dst")
			}
			enc = enc[1:]
			if tt.hex != "" && !bytes.Equal(enc, amfHex(tt.hex)) {
				t.Fatalf("encoded %x, want %x", enc, amfHex(tt.hex))
			}
			got, n, err := DecodeAMF0(enc)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(enc) {
				t.Errorf("consumed %d of %d bytes", n, len(enc))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("decoded %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestAMF0LongStringMarker(t *testing.T) {
	for _, n := range []int{65535, 65536} {
		enc, err := AppendAMF0(nil, strings.Repeat("y", n))
		if err != nil {
			t.Fatal(err)
		}
		wantMarker, wantLen := byte(amf0String), 3+n
		if n > 65535 {
			wantMarker, wantLen = amf0LongString, 5+n
		}
		if enc[0] != wantMarker || len(enc) != wantLen {
			t.Errorf("len %d: marker 0x%02x, %d bytes; want 0x%02x, %d", n, enc[0], len(enc), wantMarker, wantLen)
		}
	}
}

// Forms a decoder meets but the encoder never writes.
func TestAMF0DecodeLenient(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want any
	}{
		{"typed object", "10 0003 466f6f 0001 61 01 01 0000 09", Object{{"a", true}}},
		{"xml document", "0f 00000004 3c612f3e", "<a/>"},
		{"short long string", "0c 00000002 6869", "hi"},
		{"unsupported", "0d", Undefined{}},
		{"ecma count too small", "08 00000000 0001 61 05 0001 62 06 0000 09", ECMAArray{{"a", nil}, {"b", Undefined{}}}},
		{"ecma count too large", "08 00000063 0001 61 05 0000 09", ECMAArray{{"a", nil}}},
		{"empty key with a value", "03 0000 05 0000 09", Object{{"", nil}}},
		{"boolean nonzero", "01 07", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := amfHex(tt.hex)
			got, n, err := DecodeAMF0(b)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(b) {
				t.Errorf("consumed %d of %d", n, len(b))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func amfNested(open string, n int, inner, closer string) []byte {
	return amfHex(strings.Repeat(open, n) + inner + strings.Repeat(closer, n))
}

func TestAMF0DecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		b      []byte
		reason string
		detail string // substring of the error
	}{
		{"empty", nil, "amf", "truncated"},
		{"top-level object end", amfHex("09"), "amf", "object end marker outside"},
		{"reference", amfHex("07 0000"), "amf", "reference"},
		{"movieclip", amfHex("04"), "amf", "reserved"},
		{"recordset", amfHex("0e"), "amf", "reserved"},
		{"unknown marker", amfHex("12"), "amf", "unknown AMF0 marker 0x12"},
		{"avmplus in AMF0", amfHex("11 06 03 61"), "amf", "0x11"},
		{"number truncated", amfHex("00 3ff0"), "amf", "number"},
		{"boolean truncated", amfHex("01"), "amf", "boolean"},
		{"string truncated", amfHex("02 0005 6162"), "amf", "truncated"},
		{"string length truncated", amfHex("02 00"), "amf", "need 2 bytes, have 1"},
		{"long string huge", amfHex("0c ffffffff 61"), "amf", "need 4294967295 bytes, have 1"},
		{"object no terminator", amfHex("03 0001 61 05"), "amf", "truncated"},
		{"object key no value", amfHex("03 0001 61"), "amf", "truncated"},
		{"object empty key at end", amfHex("03 0000"), "amf", "end marker"},
		{"object end as value", amfHex("03 0001 61 09"), "amf", "object end"},
		{"ecma array truncated count", amfHex("08 0000"), "amf", "count"},
		{"strict array huge count", amfHex("0a ffffffff 05 05 05 05 05"), "amf", "4294967295 elements"},
		{"strict array short", amfHex("0a 00000003 05 05"), "amf", "exceeds"},
		{"date truncated", amfHex("0b 4275d3ef79800000 ff"), "amf", "date"},
		{"typed object no class", amfHex("10 00"), "amf", "class name"},
		{"depth bomb objects", amfNested("03 0001 61 ", 65, "05", "0000 09 "), "amf_depth", "64"},
		{"depth bomb arrays", amfNested("0a 00000001 ", 65, "05", ""), "amf_depth", "64"},
		{"depth bomb ecma", amfNested("08 00000001 0001 61 ", 65, "05", "0000 09 "), "amf_depth", "64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, n, err := DecodeAMF0(tt.b)
			amfCheckErr(t, err, tt.reason, tt.detail)
			if v != nil || n != 0 {
				t.Errorf("error came with value %#v, n %d", v, n)
			}
			if _, err := DecodeAMF0All(tt.b); tt.b != nil && err == nil {
				t.Error("DecodeAMF0All accepted what DecodeAMF0 rejects")
			}
		})
	}
}

func TestAMF0DepthLimitExact(t *testing.T) {
	for _, depth := range []int{MaxAMFDepth, MaxAMFDepth + 1} {
		b := amfNested("0a 00000001 ", depth, "05", "")
		_, _, err := DecodeAMF0(b)
		if (err == nil) != (depth <= MaxAMFDepth) {
			t.Errorf("depth %d: err %v", depth, err)
		}
	}
}

func amfCheckErr(t *testing.T, err error, reason, detail string) {
	t.Helper()
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want *ProtocolError", err, err)
	}
	if pe.Reason != reason {
		t.Errorf("reason %q, want %q (%v)", pe.Reason, reason, err)
	}
	if !strings.Contains(err.Error(), detail) {
		t.Errorf("error %q does not mention %q", err, detail)
	}
}

// Every proper prefix of a valid body must fail cleanly, unless it ends
// exactly between two top-level values.
func TestAMF0TruncatedEverywhere(t *testing.T) {
	for _, body := range [][]byte{ffmpegPlayConnect, ffmpegPublishConnect, ffmpegOnMetaData, onStatusPlayStart} {
		boundaries := map[int]bool{0: true}
		for off := 0; off < len(body); {
			_, n, err := DecodeAMF0(body[off:])
			if err != nil {
				t.Fatal(err)
			}
			off += n
			boundaries[off] = true
		}
		for i := 0; i < len(body); i++ {
			_, err := DecodeAMF0All(body[:i])
			if boundaries[i] {
				if err != nil {
					t.Errorf("prefix %d at a value boundary: %v", i, err)
				}
				continue
			}
			if err == nil {
				t.Fatalf("prefix of %d bytes of %x decoded without error", i, body[:16])
			}
			amfCheckErr(t, err, "amf", "")
		}
	}
}

func TestAMF0EncodeErrors(t *testing.T) {
	loop := []any{nil}
	loop[0] = loop
	deep := any(nil)
	for i := 0; i < MaxAMFDepth+1; i++ {
		deep = Object{{"a", deep}}
	}
	tests := []struct {
		name   string
		v      any
		detail string
	}{
		{"bytes", []byte{1}, "[]uint8"},
		{"struct", struct{}{}, "struct {}"},
		{"map of int", map[int]any{}, "map[int]interface {}"},
		{"nested bad value", Object{{"a", make(chan int)}}, "chan int"},
		{"self-containing slice", loop, "deeper than 64"},
		{"too deep", deep, "deeper than 64"},
		{"key too long", Object{{strings.Repeat("k", 65536), nil}}, "65535"},
		{"pointer", &Object{}, "*rtmp.Object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte{1, 2}
			out, err := AppendAMF0(dst, "ok", tt.v)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("error %q does not name %q", err, tt.detail)
			}
			if !bytes.Equal(out, []byte{1, 2}) {
				t.Errorf("dst changed on error: %x", out)
			}
		})
	}
}

// A count far beyond the input must fail before any allocation sized by it.
func TestAMFHugeCountsFailFast(t *testing.T) {
	tests := []struct {
		name   string
		decode func([]byte) error
		b      []byte
	}{
		{"amf0 strict array", amf0Err, amfHex("0a ffffffff 05 05 05 05 05")},
		{"amf0 long string", amf0Err, amfHex("0c ffffffff 05 05 05 05 05")},
		{"amf0 ecma array", amf0Err, amfHex("08 ffffffff 0000 09")},
		{"amf3 array", amf3Err, amfHex("09 ffffffff 01 01")},
		{"amf3 string", amf3Err, amfHex("06 ffffffff 01 01")},
		{"amf3 byte array", amf3Err, amfHex("0c ffffffff 01 01")},
		{"amf3 vector double", amf3Err, amfHex("0f ffffffff 00 01")},
		{"amf3 sealed traits", amf3Err, amfHex("0a fffffffb 01 01")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			bytesPer := amfAllocBytes(100, func() { err = tt.decode(tt.b) })
			if tt.name == "amf0 ecma array" {
				// The count is ignored: the empty array is valid.
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil {
				t.Fatal("accepted")
			}
			if bytesPer > 1024 {
				t.Errorf("allocated %d bytes per decode of %d input bytes", bytesPer, len(tt.b))
			}
		})
	}
}

func amf0Err(b []byte) error { _, _, err := DecodeAMF0(b); return err }
func amf3Err(b []byte) error { _, _, err := DecodeAMF3(b); return err }

// allocBytes reports the bytes allocated per call of f.
func amfAllocBytes(runs int, f func()) uint64 {
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// Doubling the input must roughly double the work: append growth and copies
// of strings are linear, and nothing rescans what was already decoded.
func TestAMFDecodeAllocsLinear(t *testing.T) {
	amf0Body := func(n int) []byte {
		ps := make(ECMAArray, n)
		for i := range ps {
			ps[i] = Property{Key: "key" + strings.Repeat("k", i%7), Value: StrictArray{float64(i), "v"}}
		}
		b, err := AppendAMF0(nil, "onMetaData", ps)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	amf3Body := func(n int) []byte {
		// A dense array of n anonymous objects sharing traits and names.
		b := append([]byte{amf3Array}, amfU29(uint32(n)<<1|1)...)
		b = append(b, 0x01, amf3Object, 0x0b, 0x01, 0x03, 'a', amf3Integer, 0x01, 0x01)
		for i := 1; i < n; i++ {
			b = append(b, amf3Object, 0x01, 0x00, amf3String, 0x03, 'x', 0x01)
		}
		return b
	}
	tests := []struct {
		name   string
		body   func(int) []byte
		decode func([]byte) error
	}{
		{"amf0", amf0Body, func(b []byte) error { _, err := DecodeAMF0All(b); return err }},
		{"amf3", amf3Body, amf3Err},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			small, large := tt.body(2000), tt.body(32000)
			var err error
			allocsSmall := testing.AllocsPerRun(5, func() { err = tt.decode(small) })
			if err != nil {
				t.Fatal(err)
			}
			allocsLarge := testing.AllocsPerRun(5, func() { err = tt.decode(large) })
			bytesSmall := amfAllocBytes(5, func() { err = tt.decode(small) })
			bytesLarge := amfAllocBytes(5, func() { err = tt.decode(large) })
			t.Logf("2000 elements: %.0f allocs, %d B; 32000: %.0f allocs, %d B", allocsSmall, bytesSmall, allocsLarge, bytesLarge)
			// Linear is 16x, quadratic 256x. Bytes get 3x of slack: append
			// grows large slices by 1.25x, not 2x, so the bytes per element
			// of growth rise from about 2 to 5 slice elements as N grows.
			if allocsLarge > 17*allocsSmall {
				t.Errorf("allocations grow %.1fx for 16x the input", allocsLarge/allocsSmall)
			}
			if float64(bytesLarge) > 48*float64(bytesSmall) {
				t.Errorf("bytes allocated grow %.1fx for 16x the input", float64(bytesLarge)/float64(bytesSmall))
			}
			if perByte := float64(bytesLarge) / float64(len(large)); perByte > 100 {
				t.Errorf("%.1f bytes allocated per input byte", perByte)
			}
		})
	}
}

func amfU29(v uint32) []byte {
	switch {
	case v < 1<<7:
		return []byte{byte(v)}
	case v < 1<<14:
		return []byte{byte(v>>7) | 0x80, byte(v) & 0x7f}
	case v < 1<<21:
		return []byte{byte(v>>14) | 0x80, byte(v>>7) | 0x80, byte(v) & 0x7f}
	}
	return []byte{byte(v>>22) | 0x80, byte(v>>15) | 0x80, byte(v>>8) | 0x80, byte(v)}
}

func TestAMF3Integers(t *testing.T) {
	tests := []struct {
		hex  string
		want float64
	}{
		{"00", 0},
		{"7f", 127},
		{"8100", 128},
		{"ff7f", 16383},
		{"818000", 16384},
		{"ffff7f", 2097151},
		{"80c08000", 2097152},
		{"bfffffff", 268435455},
		{"ffffffff", -1},
		{"c0808000", -268435456},
	}
	for _, tt := range tests {
		b := amfHex("04" + tt.hex)
		got, n, err := DecodeAMF3(b)
		if err != nil {
			t.Errorf("%s: %v", tt.hex, err)
			continue
		}
		if got != tt.want || n != len(b) {
			t.Errorf("%s: got %v (n %d), want %v (n %d)", tt.hex, got, n, tt.want, len(b))
		}
	}
}

func TestAMF3Decode(t *testing.T) {
	test1a := Object{{"a", "a"}, {"b", "bb"}, {"c", "ccc"}}
	nums := Object{{"1", 123.0}, {"2", 234.0}, {"3", 345.0}}
	tests := []struct {
		name string
		b    []byte
		want any
	}{
		{"undefined", amfHex("00"), Undefined{}},
		{"null", amfHex("01"), nil},
		{"false", amfHex("02"), false},
		{"true", amfHex("03"), true},
		{"double", amfHex("05 3ff8000000000000"), 1.5},
		{"empty string", amfHex("06 01"), ""},
		{"string", amfHex("06 07 616263"), "abc"},
		{"string refs", amf3StringRefs, StrictArray{"abc", "abc", "", "abc"}},
		{"xml", amfHex("0b 09 3c612f3e"), "<a/>"},
		{"xml doc", amfHex("07 09 3c612f3e"), "<a/>"},
		{"date", amfHex("08 01 4275d3ef79800000"), Date{Millis: 1.5e12}},
		{"byte array", amfHex("0c 07 010203"), []byte{1, 2, 3}},
		{"empty array", amfHex("09 01 01"), StrictArray{}},
		{"associative array", amfHex("09 05 03 6b 06 03 76 01 04 01 04 02"), ECMAArray{{"k", "v"}, {"0", 1.0}, {"1", 2.0}}},
		{"dynamic nested objects", amf3DynamicNest, Object{{"prop", Object{{"a", 1.0}}}}},
		{"sealed objects, traits and object refs", amf3SealedRefs, StrictArray{test1a, Object{{"a", "a2"}, {"b", "bb2"}, {"c", "ccc2"}}, test1a}},
		{"anonymous objects, name refs", amf3AnonRefs, Object{{"a", nums}, {"b", nums}, {"c", nums}}},
		{"sealed and dynamic", amfHex("0a 1b 01 03 78 04 01 03 79 04 02 01"), Object{{"x", 1.0}, {"y", 2.0}}},
		{"date ref", amfHex("09 05 01 08 01 0000000000000000 08 02"), StrictArray{Date{}, Date{}}},
		{"vector int", amfHex("0d 05 00 ffffffff 00000002"), StrictArray{-1.0, 2.0}},
		{"vector uint", amfHex("0e 03 01 ffffffff"), StrictArray{4294967295.0}},
		{"vector double", amfHex("0f 03 00 3ff8000000000000"), StrictArray{1.5}},
		{"vector object", amfHex("10 05 00 01 06 03 61 01"), StrictArray{"a", nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := DecodeAMF3(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tt.b) {
				t.Errorf("consumed %d of %d", n, len(tt.b))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestAMF3DecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		b      []byte
		reason string
		detail string
	}{
		{"empty", nil, "amf", "truncated"},
		{"unknown marker", amfHex("12"), "amf", "unknown AMF3 marker 0x12"},
		{"dictionary", amfHex("11 03 00"), "amf", "dictionary"},
		{"externalizable", amfHex("0a 07 07 466f6f"), "amf", `"Foo"`},
		{"string ref out of range", amfHex("06 02"), "amf", "string reference 1"},
		{"object ref out of range", amfHex("0a 02"), "amf", "object reference 1"},
		{"traits ref out of range", amfHex("0a 05"), "amf", "traits reference 1"},
		{"cyclic array", amfHex("09 03 01 09 00"), "amf", "cyclic"},
		{"integer truncated", amfHex("04 ff ff"), "amf", "integer"},
		{"string truncated", amfHex("06 07 6162"), "amf", "truncated"},
		{"double truncated", amfHex("05 3ff8"), "amf", "double"},
		{"array no assoc end", amfHex("09 03"), "amf", "exceeds"},
		{"array short", amfHex("09 05 01 01"), "amf", "truncated"},
		{"object no dynamic end", amfHex("0a 0b 01 03 61 01"), "amf", "truncated"},
		{"vector truncated", amfHex("0d 05 00 ffffffff"), "amf", "exceeds"},
		{"depth bomb", amfNested("09 03 01 ", 65, "01", ""), "amf_depth", "64"},
		{"depth bomb objects", amfNested("0a 0b 01 03 61 ", 65, "01", "01 "), "amf_depth", "64"},
		{"reference bomb", amf3RefBomb(30), "amf", "expand"},
		{"string ref flood", amf3StringFlood(3000, 2000), "amf", "expand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, n, err := DecodeAMF3(tt.b)
			amfCheckErr(t, err, tt.reason, tt.detail)
			if v != nil || n != 0 {
				t.Errorf("error came with value %#v, n %d", v, n)
			}
		})
	}
}

// amf3RefBomb builds an array whose element i is an array holding two
// references to element i-1: 5 bytes per level, doubling each time.
func amf3RefBomb(levels int) []byte {
	b := append([]byte{amf3Array}, amfU29(uint32(levels+1)<<1|1)...)
	b = append(b, 0x01, amf3Array, 0x03, 0x01, amf3String)
	b = append(b, amfU29(1000<<1|1)...)
	b = append(b, bytes.Repeat([]byte{'z'}, 1000)...)
	for i := 1; i <= levels; i++ {
		b = append(b, amf3Array, 0x05, 0x01, amf3Array, byte(i<<1), amf3Array, byte(i<<1))
	}
	return b
}

// amf3StringFlood is one string of size bytes, then refs references to it.
func amf3StringFlood(size, refs int) []byte {
	b := append([]byte{amf3Array}, amfU29(uint32(refs+1)<<1|1)...)
	b = append(b, 0x01, amf3String)
	b = append(b, amfU29(uint32(size)<<1|1)...)
	b = append(b, bytes.Repeat([]byte{'s'}, size)...)
	for i := 0; i < refs; i++ {
		b = append(b, amf3String, 0x00)
	}
	return b
}

// References within the cap decode, and share the referenced value.
func TestAMF3ReferenceWithinCap(t *testing.T) {
	v, _, err := DecodeAMF3(amf3RefBomb(8))
	if err != nil {
		t.Fatal(err)
	}
	top := v.(StrictArray)
	if len(top) != 9 {
		t.Fatalf("%d elements", len(top))
	}
	l8 := top[8].(StrictArray)
	if &l8[0].(StrictArray)[0] != &top[7].(StrictArray)[0] {
		t.Error("a reference did not share the referenced array")
	}
	if _, _, err := DecodeAMF3(amf3StringFlood(1000, 1000)); err != nil {
		t.Errorf("1 MB of string references rejected: %v", err)
	}
}

func TestAMF3TruncatedEverywhere(t *testing.T) {
	for _, body := range [][]byte{amf3StringRefs, amf3DynamicNest, amf3SealedRefs, amf3AnonRefs} {
		for i := 0; i < len(body); i++ {
			if _, _, err := DecodeAMF3(body[:i]); err == nil {
				t.Fatalf("prefix of %d bytes of %x decoded without error", i, body)
			} else {
				amfCheckErr(t, err, "amf", "")
			}
		}
	}
}

func TestDecodeAMF3Command(t *testing.T) {
	// connect(1, <AMF3 {app: "live"}>, <AMF3 "live" by reference>): the
	// second switch shares the string table of the first.
	body := amfHex("00 020007636f6e6e656374 003ff0000000000000 11 0a0b01 07 617070 06 09 6c697665 01 11 06 02")
	tests := []struct {
		name string
		b    []byte
		want []any
	}{
		{"format byte", body, []any{"connect", 1.0, Object{{"app", "live"}}, "live"}},
		{"no format byte", body[1:], []any{"connect", 1.0, Object{{"app", "live"}}, "live"}},
		{"AMF3 inside an AMF0 object", amfHex("00 03 0001 61 11 04 05 0000 09"), []any{Object{{"a", 5.0}}}},
		{"format byte only", amfHex("00"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeAMF3Command(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
	for _, bad := range [][]byte{nil, amfHex("07"), amfHex("00 11 12")} {
		if _, err := DecodeAMF3Command(bad); err == nil {
			t.Errorf("%x accepted", bad)
		} else {
			amfCheckErr(t, err, "amf", "")
		}
	}
	for i := 1; i < len(body); i++ {
		if _, err := DecodeAMF3Command(body[:i]); err == nil && i != 1 && i != 11 && i != 20 && i != len(body)-3 {
			t.Errorf("prefix %d accepted", i)
		}
	}
}
