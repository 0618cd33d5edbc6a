package rtmp

import (
	"bytes"
	"errors"
	"testing"
)

func amfFuzzSeeds(f *testing.F, extra ...[]byte) {
	for _, b := range [][]byte{ffmpegPlayConnect, ffmpegPublishConnect, ffmpegOnMetaData, onStatusPlayStart} {
		f.Add(b)
	}
	for _, b := range extra {
		f.Add(b)
	}
}

// amfCheckFuzzErr fails unless err is a ProtocolError with an AMF reason:
// callers map Reason to metrics and must never see another kind.
func amfCheckFuzzErr(t *testing.T, err error) {
	var pe *ProtocolError
	if !errors.As(err, &pe) || (pe.Reason != "amf" && pe.Reason != "amf_depth") {
		t.Fatalf("error %v (%T) is not an AMF ProtocolError", err, err)
	}
}

// FuzzDecodeAMF0 checks that decoding never panics, that errors are
// ProtocolErrors, and that whatever decodes re-encodes and then survives
// decode→encode unchanged (the first encoding may normalise: typed objects
// become objects, ECMA counts are corrected, long strings shrink).
func FuzzDecodeAMF0(f *testing.F) {
	amfFuzzSeeds(f,
		amfHex("10 0003 466f6f 0001 61 01 01 0000 09"),
		amfHex("08 00000063 0001 61 05 0000 09"),
		amfHex("0b 4275d3ef79800000 ffc4"),
		amfHex("0a 00000002 0c 00000002 6869 0f 00000000"),
		amfNested("0a 00000001 ", 64, "05", ""),
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := DecodeAMF0All(b); err != nil {
			amfCheckFuzzErr(t, err)
		}
		if _, err := DecodeAMF3Command(b); err != nil {
			amfCheckFuzzErr(t, err)
		}
		v, n, err := DecodeAMF0(b)
		if err != nil {
			amfCheckFuzzErr(t, err)
			return
		}
		if n < 1 || n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		enc, err := AppendAMF0(nil, v)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", v, err)
		}
		v2, n2, err := DecodeAMF0(enc)
		if err != nil {
			t.Fatalf("re-decode of %x: %v", enc, err)
		}
		if n2 != len(enc) {
			t.Fatalf("re-decode consumed %d of %d", n2, len(enc))
		}
		enc2, err := AppendAMF0(nil, v2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable: %x then %x", enc, enc2)
		}
	})
}

// FuzzDecodeAMF3 checks that decoding never panics, that errors are
// ProtocolErrors, and that references cannot make the result much larger
// than the input: re-encoded as AMF0 it stays within a fixed multiple of
// the input plus the reference cap.
func FuzzDecodeAMF3(f *testing.F) {
	amfFuzzSeeds(f,
		amf3StringRefs, amf3DynamicNest, amf3SealedRefs, amf3AnonRefs,
		amf3RefBomb(4), amf3StringFlood(10, 10),
		amfHex("04 c0808000"),
		amfHex("09 05 03 6b 06 03 76 01 04 01 04 02"),
		amfHex("0a 1b 01 03 78 04 01 03 79 04 02 01"),
		amfHex("0c 07 010203"),
		amfHex("0d 05 00 ffffffff 00000002"),
		amfHex("10 05 00 01 06 03 61 01"),
		amfHex("09 05 01 08 01 0000000000000000 08 02"),
		amfHex("00 020007636f6e6e656374 003ff0000000000000 11 0a0b01 07 617070 06 09 6c697665 01 11 06 02"),
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := DecodeAMF3Command(b); err != nil {
			amfCheckFuzzErr(t, err)
		}
		v, n, err := DecodeAMF3(b)
		if err != nil {
			amfCheckFuzzErr(t, err)
			return
		}
		if n < 1 || n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		enc, err := AppendAMF0(nil, v)
		if err != nil {
			return // byte arrays have no AMF0 form
		}
		if limit := 16*(len(b)+maxAMF3RefExpansion) + 64; len(enc) > limit {
			t.Fatalf("%d input bytes encode to %d, past %d", len(b), len(enc), limit)
		}
		if _, _, err := DecodeAMF0(enc); err != nil {
			t.Fatalf("AMF0 form of an AMF3 value does not decode: %v", err)
		}
	})
}
