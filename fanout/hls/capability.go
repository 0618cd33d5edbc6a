package hls

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The query parameters of a protected stream's URIs: the media playlist
// carries the viewer's session, init segments, segments and parts the
// stream's capability.
const (
	sessionParam = "hls_sid"
	capParam     = "hls_cap"
)

// A capability is valid from when it is minted until the end of the next
// whole capBucket plus capBucket: every playlist rendered within one
// bucket lists the same URIs for every viewer, so a cache in front shares
// the segments among them, and a viewer who stops reloading the playlist
// loses the segments within two buckets.
const capBucket = time.Minute

// macLen is the bytes of HMAC-SHA256 a capability keeps (128 bits).
const macLen = 16

// capSigner mints and checks a stream's capabilities with a key of this
// process's own: they name segments of this process's remuxers (whose
// epoch changes with every run), so nothing outlives it and no secret
// is shared with the token configuration (which may hold no secret at
// all: public keys only, or a hook).
type capSigner struct{ key []byte }

func newCapSigner() *capSigner {
	k := make([]byte, 32)
	rand.Read(k) // never fails (crypto/rand panics instead)
	return &capSigner{key: k}
}

// mint is stream's capability at now: "EXPIRY.MAC", EXPIRY in Unix
// seconds.
func (c *capSigner) mint(stream string, now time.Time) string {
	b := int64(capBucket / time.Second)
	exp := (now.Unix()/b + 2) * b
	return strconv.FormatInt(exp, 10) + "." + base64.RawURLEncoding.EncodeToString(c.mac(stream, exp))
}

func (c *capSigner) mac(stream string, exp int64) []byte {
	h := hmac.New(sha256.New, c.key)
	h.Write([]byte(stream))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, exp, 10))
	return h.Sum(nil)[:macLen]
}

// Why a capability is refused.
var (
	errCapMissing = errors.New("no " + capParam + ": request the playlist (index.m3u8?token=…) and use the URIs it lists")
	errCapInvalid = errors.New("the " + capParam + " is not valid for this stream")
	errCapExpired = errors.New("the " + capParam + " has expired: reload the playlist")
)

// verify checks value as stream's capability at now.
func (c *capSigner) verify(stream, value string, now time.Time) error {
	if value == "" {
		return errCapMissing
	}
	exp, mac, err := parseCap(value)
	if err != nil {
		return errCapInvalid
	}
	if !hmac.Equal(mac, c.mac(stream, exp)) {
		return errCapInvalid
	}
	if now.Unix() >= exp {
		return errCapExpired
	}
	return nil
}

// parseCap splits "EXPIRY.MAC".
func parseCap(value string) (exp int64, mac []byte, err error) {
	es, ms, ok := strings.Cut(value, ".")
	if !ok || len(es) == 0 || len(es) > 19 || len(ms) != base64.RawURLEncoding.EncodedLen(macLen) {
		return 0, nil, errCapInvalid
	}
	exp, err = strconv.ParseInt(es, 10, 64)
	if err != nil || exp <= 0 || es[0] == '+' {
		return 0, nil, errCapInvalid
	}
	mac, err = base64.RawURLEncoding.Strict().DecodeString(ms) // one spelling per capability: one cache key
	if err != nil || len(mac) != macLen {
		return 0, nil, errCapInvalid
	}
	return exp, mac, nil
}
