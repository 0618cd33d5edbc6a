package rtmp

import (
	"bytes"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// The handshake comes in two forms. The plain form of the specification is
// three opaque blocks: C0/S0 (the version byte), C1/S1 (time, zero, 1528
// random bytes) and C2/S2 (an echo of the peer's C1/S1). The digest
// ("complex") form that Flash Player introduced and that librtmp, ffmpeg, OBS
// and every Flash-era server speak hides an HMAC-SHA256 digest at a position
// computed from four bytes of the block itself, and signs S2/C2 with a key
// derived from the peer's digest. A server must answer a digest-form client in
// the digest form: ffmpeg and librtmp, as players, reject a server whose S1
// carries no valid digest or whose S2 is not signed.

const (
	handshakeSize = 1536 // C1, S1, C2 and S2 are all this long
	digestLen     = sha256.Size
	rtmpVersion   = 3 // the only C0 we accept: 6, 8 and 9 are RTMPE

	// digestRange is how far a digest may sit from its offset field: the
	// offset bytes are summed modulo this, which keeps the 32-byte digest
	// inside its 764-byte half of the block.
	digestRange = 728

	// serverVersion goes in S1 bytes 4..7. It must be non-zero: librtmp and
	// ffmpeg take a zero version to mean "plain server" and ffmpeg validates
	// the digest only when the first byte is >= 3. nginx-rtmp sends the same.
	serverVersion uint32 = 0x0D0E0A0D
	// clientVersion goes in a digest-form C1: Flash Player 9.0.124.2, the
	// first to use the digest form, and what ffmpeg announces.
	clientVersion uint32 = 0x09007C02
)

// keyTail is the constant 32 bytes that follow the text of both keys.
var keyTail = [...]byte{
	0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8,
	0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
	0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB,
	0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
}

// The text part of each key signs the C1/S1 digest; the full key (text and
// tail) derives the key that signs C2/S2.
var (
	playerKey = append([]byte("Genuine Adobe Flash Player 001"), keyTail[:]...)       // 30 + 32
	serverKey = append([]byte("Genuine Adobe Flash Media Server 001"), keyTail[:]...) // 36 + 32
)

const (
	playerKeyTextLen = 30
	serverKeyTextLen = 36
)

// digestScheme says where a digest-form C1 or S1 keeps its digest.
type digestScheme uint8

const (
	// schemeNone is the plain form: no digest was found.
	schemeNone digestScheme = iota
	// schemeAt8 keeps the offset field at bytes 8..11 and the digest in
	// 12..771. ffmpeg, librtmp and Flash Player send this form (SRS calls
	// it schema 1, "digest first").
	schemeAt8
	// schemeAt772 keeps the offset field at bytes 772..775 and the digest in
	// 776..1535. ffmpeg uses it for RTMPE (SRS schema 0, "key first").
	schemeAt772
)

// schemes lists the digest schemes in the order a verifier tries them.
var schemes = [...]digestScheme{schemeAt8, schemeAt772}

func (s digestScheme) String() string {
	switch s {
	case schemeAt8:
		return "digest@8"
	case schemeAt772:
		return "digest@772"
	}
	return "plain"
}

// digestPos returns where the digest of block p sits under scheme s
// (ffmpeg's ff_rtmp_calc_digest_pos). The result is at most 1503, so
// p[pos:pos+32] is always inside a 1536-byte block.
func digestPos(p []byte, s digestScheme) int {
	off := 8
	if s == schemeAt772 {
		off = 772
	}
	sum := int(p[off]) + int(p[off+1]) + int(p[off+2]) + int(p[off+3])
	return sum%digestRange + off + 4
}

// c2Kind records what the client's C2 turned out to be. Servers do not
// reject a bad C2 (Flash Media Server never did, and some clients send
// junk), but tests and logs want to know.
type c2Kind uint8

const (
	c2Other  c2Kind = iota // neither signed nor an echo of S1
	c2Signed               // signed with the key derived from S1's digest
	c2Echo                 // an echo of S1 (plain form, or a client that skips validation)
)

// handshakeInfo describes a completed server handshake.
type handshakeInfo struct {
	scheme digestScheme // how the client's C1 carried its digest
	c2     c2Kind
}

// hsState is the per-handshake working memory, pooled so that thousands of
// connecting players do not each allocate 4.6 KiB and four HMAC states.
type hsState struct {
	small [1 + handshakeSize]byte   // server: C0+C1 in, then C2; client: C0+C1 out, then C2
	large [1 + 2*handshakeSize]byte // server: S0+S1+S2 out; client: S0+S1+S2 in
	sum   [digestLen]byte
	// HMACs with fixed keys, Reset before each use.
	playerText, playerFull, serverText, serverFull hash.Hash
	// rng fills the random parts. They need not be unpredictable, only
	// cheap: ChaCha8 is seeded once per pooled state.
	rng *rand.ChaCha8
}

var hsPool = sync.Pool{New: func() any {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails since Go 1.24
	return &hsState{
		playerText: hmac.New(sha256.New, playerKey[:playerKeyTextLen]),
		playerFull: hmac.New(sha256.New, playerKey),
		serverText: hmac.New(sha256.New, serverKey[:serverKeyTextLen]),
		serverFull: hmac.New(sha256.New, serverKey),
		rng:        rand.NewChaCha8(seed),
	}
}}

// processStart anchors the uptime field of C1 and S1.
var processStart = time.Now()

func uptimeMillis() uint32 { return uint32(time.Since(processStart).Milliseconds()) }

// mac returns the HMAC of the concatenated parts under h. The result aliases
// st.sum and is overwritten by the next call.
func (st *hsState) mac(h hash.Hash, parts ...[]byte) []byte {
	h.Reset()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(st.sum[:0])
}

// findDigest looks for a valid digest in block p under the text key h,
// trying both schemes as ffmpeg, librtmp and nginx-rtmp do.
func (st *hsState) findDigest(h hash.Hash, p []byte) (digestScheme, int) {
	for _, s := range schemes {
		pos := digestPos(p, s)
		if hmac.Equal(st.mac(h, p[:pos], p[pos+digestLen:]), p[pos:pos+digestLen]) {
			return s, pos
		}
	}
	return schemeNone, 0
}

// fillDigestBlock fills a C1 or S1: uptime, version, random bytes, and the
// digest under the text key h at the place scheme s gives. It returns the
// digest's position.
func (st *hsState) fillDigestBlock(p []byte, version uint32, h hash.Hash, s digestScheme) int {
	binary.BigEndian.PutUint32(p[0:4], uptimeMillis())
	binary.BigEndian.PutUint32(p[4:8], version)
	_, _ = st.rng.Read(p[8:])
	pos := digestPos(p, s)
	copy(p[pos:], st.mac(h, p[:pos], p[pos+digestLen:]))
	return pos
}

// signingKey derives the key that signs S2 (or C2): the HMAC of the peer's
// C1 (or S1) digest under the full key h.
func (st *hsState) signingKey(h hash.Hash, peerDigest []byte) [digestLen]byte {
	var k [digestLen]byte
	copy(k[:], st.mac(h, peerDigest))
	return k
}

// sign fills p (an S2 or C2) with random bytes followed by their HMAC
// under key.
func (st *hsState) sign(p []byte, key *[digestLen]byte) {
	n := handshakeSize - digestLen
	_, _ = st.rng.Read(p[:n])
	// crypto/hmac cannot rekey a hash, so a per-handshake key costs one
	// hmac.New; the fixed-key states above are reused.
	h := hmac.New(sha256.New, key[:])
	h.Write(p[:n])
	h.Sum(p[:n])
}

// signed reports whether p (an S2 or C2) ends with the HMAC of the rest under key.
func signed(p []byte, key *[digestLen]byte) bool {
	n := handshakeSize - digestLen
	h := hmac.New(sha256.New, key[:])
	h.Write(p[:n])
	var sum [digestLen]byte
	return hmac.Equal(h.Sum(sum[:0]), p[n:])
}

// echoes reports whether reply echoes block: the random part must match.
// The specification lets bytes 4..7 of the echo carry the time the block was
// read, so only bytes 0..3 and 8.. are compared.
func echoes(reply, block []byte) bool {
	return bytes.Equal(reply[:4], block[:4]) && bytes.Equal(reply[8:], block[8:])
}

// ServerHandshake performs the server side of the handshake on rw: reads
// C0+C1, writes S0+S1+S2, reads C2. It answers a digest-form C1 in the digest
// form and anything else in the plain form, and never reads past C2, so the
// caller's chunk reader sees the client's first chunk intact.
//
// Callers set deadlines on the conn; this function does no timing itself.
// A C0 other than 3 yields a *ProtocolError with Reason "handshake_version";
// an I/O failure yields an error that matches both a *ProtocolError with
// Reason "handshake_io" and the underlying error (io.EOF,
// os.ErrDeadlineExceeded, …) under errors.As and errors.Is.
func ServerHandshake(rw io.ReadWriter) error {
	_, err := serverHandshake(rw)
	return err
}

// serverHandshake is ServerHandshake that also reports which form the
// client used.
func serverHandshake(rw io.ReadWriter) (handshakeInfo, error) {
	var info handshakeInfo
	st := hsPool.Get().(*hsState)
	defer hsPool.Put(st)

	in := st.small[:]
	if err := readC0C1(rw, in); err != nil {
		return info, err
	}
	c1 := in[1:]
	scheme, c1Pos := st.findDigest(st.playerText, c1)
	info.scheme = scheme

	out := st.large[:]
	out[0] = rtmpVersion
	s1, s2 := out[1:1+handshakeSize], out[1+handshakeSize:]
	// S1 carries a digest even for a plain client, as nginx-rtmp's does:
	// a plain client ignores it, and a client that validates S1 whatever
	// form it used itself finds a valid one.
	s1Scheme := scheme
	if s1Scheme == schemeNone {
		s1Scheme = schemeAt8
	}
	s1Pos := st.fillDigestBlock(s1, serverVersion, st.serverText, s1Scheme)
	if scheme == schemeNone {
		copy(s2, c1)
	} else {
		key := st.signingKey(st.serverFull, c1[c1Pos:c1Pos+digestLen])
		st.sign(s2, &key)
	}
	if _, err := rw.Write(out); err != nil {
		return info, ioErr("writing S0+S1+S2", err)
	}

	c2 := in[1:] // C1 is no longer needed
	if _, err := io.ReadFull(rw, c2); err != nil {
		return info, ioErr("reading C2", err)
	}
	info.c2 = classifyC2(st, c2, s1, s1Pos, scheme)
	return info, nil
}

// readC0C1 reads C0 and C1 into in. It checks C0 as soon as the first byte
// arrives, so that an HTTP or TLS client sending fewer than 1537 bytes is
// turned away at once instead of at the caller's deadline.
func readC0C1(r io.Reader, in []byte) error {
	n, err := io.ReadAtLeast(r, in, 1)
	if err != nil {
		return ioErr("reading C0+C1", err)
	}
	if in[0] != rtmpVersion {
		return &ProtocolError{Reason: "handshake_version", Detail: describeVersion(in[0])}
	}
	if _, err := io.ReadFull(r, in[n:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // C0 has arrived, so C1 is cut short
		}
		return ioErr("reading C0+C1", err)
	}
	return nil
}

func classifyC2(st *hsState, c2, s1 []byte, s1Pos int, scheme digestScheme) c2Kind {
	if echoes(c2, s1) {
		return c2Echo
	}
	if scheme != schemeNone {
		key := st.signingKey(st.playerFull, s1[s1Pos:s1Pos+digestLen])
		if signed(c2, &key) {
			return c2Signed
		}
	}
	return c2Other
}

// describeVersion explains a C0 we refuse, guessing at what the peer
// actually speaks: the usual culprits on port 1935 are browsers, health
// checks, rtmps clients and RTMPE.
func describeVersion(b byte) string {
	switch {
	case b == 0x16:
		return "got 0x16: not RTMP (TLS handshake? rtmps needs TLS terminated in front)"
	case b == 6 || b == 8 || b == 9:
		return fmt.Sprintf("got 0x%02x: RTMPE (encrypted RTMP) is not supported", b)
	case b >= 'A' && b <= 'Z':
		return fmt.Sprintf("got 0x%02x (%q): not RTMP (HTTP?)", b, rune(b))
	case b >= 0x20 && b < 0x7f:
		return fmt.Sprintf("got 0x%02x (%q): not RTMP", b, rune(b))
	}
	return fmt.Sprintf("got 0x%02x: unsupported RTMP version (want 3)", b)
}

// ioErr wraps an I/O failure so that it is both a *ProtocolError (for the
// metrics label) and, under errors.Is, the underlying error.
func ioErr(during string, err error) error {
	return fmt.Errorf("%w: %w", &ProtocolError{Reason: "handshake_io", Detail: during}, err)
}

// ClientHandshake performs the client side of the handshake on rw. It sends
// a digest-form C1 as Flash Player, librtmp and ffmpeg do and, when the server
// answers in the digest form (a non-zero version in S1), verifies S1's digest
// and S2's signature and signs C2; a plain server gets S1 echoed as C2.
func ClientHandshake(rw io.ReadWriter) error {
	_, err := clientHandshake(rw, true)
	return err
}

// ClientHandshakePlain performs the client side of the plain handshake: C1
// has zeros in the version field and no digest, and C2 echoes S1.
func ClientHandshakePlain(rw io.ReadWriter) error {
	_, err := clientHandshake(rw, false)
	return err
}

// clientHandshake returns the scheme of the server's S1 digest (schemeNone
// when the exchange was plain).
func clientHandshake(rw io.ReadWriter, digest bool) (digestScheme, error) {
	st := hsPool.Get().(*hsState)
	defer hsPool.Put(st)

	out := st.small[:]
	out[0] = rtmpVersion
	c1 := out[1:]
	var c1Digest [digestLen]byte
	if digest {
		pos := st.fillDigestBlock(c1, clientVersion, st.playerText, schemeAt8)
		copy(c1Digest[:], c1[pos:])
	} else {
		binary.BigEndian.PutUint32(c1[0:4], uptimeMillis())
		clear(c1[4:8])
		_, _ = st.rng.Read(c1[8:])
	}
	if _, err := rw.Write(out); err != nil {
		return schemeNone, ioErr("writing C0+C1", err)
	}

	in := st.large[:]
	if _, err := io.ReadFull(rw, in); err != nil {
		return schemeNone, ioErr("reading S0+S1+S2", err)
	}
	if in[0] != rtmpVersion {
		return schemeNone, protoErr("handshake_version", "server answered version 0x%02x, want 3", in[0])
	}
	s1, s2 := in[1:1+handshakeSize], in[1+handshakeSize:]

	scheme := schemeNone
	c2 := out[1:] // C1 is no longer needed once checked against S2
	if digest && binary.BigEndian.Uint32(s1[4:8]) != 0 {
		var pos int
		scheme, pos = st.findDigest(st.serverText, s1)
		if scheme == schemeNone {
			return schemeNone, protoErr("handshake_digest", "server S1 has version %d.%d.%d.%d but no valid digest",
				s1[4], s1[5], s1[6], s1[7])
		}
		key := st.signingKey(st.serverFull, c1Digest[:])
		if !signed(s2, &key) {
			return scheme, protoErr("handshake_signature", "server S2 signature mismatch")
		}
		key = st.signingKey(st.playerFull, s1[pos:pos+digestLen])
		st.sign(c2, &key)
	} else {
		if !echoes(s2, c1) {
			return schemeNone, protoErr("handshake_echo", "server S2 does not echo C1")
		}
		copy(c2, s1)
	}
	if _, err := rw.Write(c2); err != nil {
		return scheme, ioErr("writing C2", err)
	}
	return scheme, nil
}
