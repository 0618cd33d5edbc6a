package access

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "s3cret-for-tests"

func TestTokens(t *testing.T) {
	hs := func(a Action, stream string, ttl time.Duration) string {
		return mint(t, MintOptions{Action: a, Stream: stream, TTL: ttl, Secret: []byte(testSecret)})
	}
	expired := mint(t, MintOptions{Action: Publish, Stream: "live/x", TTL: time.Minute, Secret: []byte(testSecret),
		Now: time.Now().Add(-time.Hour)})
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, Claims{Action: Publish, Stream: "live/x"}).SignedString([]byte(testSecret))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, Claims{Action: Publish, Stream: "live/x",
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	otherKey := mint(t, MintOptions{Action: Publish, Stream: "live/x", TTL: time.Hour, Secret: []byte("another")})
	good := hs(Publish, "live/x", time.Hour)
	cases := []struct {
		name   string
		action Action
		stream string
		query  string
		want   string
	}{
		{"valid publish", Publish, "live/x", "token=" + good, ""},
		{"valid among other params", Publish, "live/x", "a=1&token=" + good + "&b=2", ""},
		{"valid play", Play, "live/x", "token=" + hs(Play, "live/x", time.Hour), ""},
		{"prefix", Play, "live/cam7", "token=" + hs(Play, "live/*", time.Hour), ""},
		{"everything", Play, "other/y", "token=" + hs(Play, "*", time.Hour), ""},
		{"missing", Publish, "live/x", "", ReasonTokenMissing},
		{"empty", Publish, "live/x", "token=", ReasonTokenMissing},
		{"expired", Publish, "live/x", "token=" + expired, ReasonTokenExpired},
		{"play token publishes", Publish, "live/x", "token=" + hs(Play, "live/x", time.Hour), ReasonTokenAction},
		{"publish token plays", Play, "live/x", "token=" + good, ReasonTokenAction},
		{"wrong stream", Publish, "live/y", "token=" + good, ReasonTokenStream},
		{"prefix elsewhere", Play, "other/x", "token=" + hs(Play, "live/*", time.Hour), ReasonTokenStream},
		{"no expiry", Publish, "live/x", "token=" + noExp, ReasonTokenInvalid},
		{"alg none", Publish, "live/x", "token=" + none, ReasonTokenInvalid},
		{"other secret", Publish, "live/x", "token=" + otherKey, ReasonTokenInvalid},
		{"garbage", Publish, "live/x", "token=abc.def.ghi", ReasonTokenInvalid},
		{"tampered", Publish, "live/x", "token=" + good[:len(good)-2] + "xx", ReasonTokenInvalid},
	}
	c, logs := newTestController(t, Config{Secret: testSecret})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app, name, _ := strings.Cut(tc.stream, "/")
			a, err := admit(c, Request{Action: tc.action, App: app, Name: name, Query: tc.query, Remote: "127.0.0.1:5000", Protocol: ProtoRTMP})
			if got := reasonOf(t, err); got != tc.want {
				t.Fatalf("reason %q, want %q (err %v)", got, tc.want, err)
			}
			a.Done()
		})
	}
	// The token is never in the log, whole or in part.
	for _, tc := range cases {
		if tok := TokenFromQuery(tc.query); len(tok) > 20 && strings.Contains(logs.String(), tok[len(tok)-20:]) {
			t.Errorf("%s: the log contains the token", tc.name)
		}
	}
	if !strings.Contains(logs.String(), "reason=token_expired") {
		t.Errorf("no refusal line for the expired token:\n%s", logs)
	}
}

// TestPublicKeyTokens: RS256 and ES256 tokens verified with a JWKS, by kid
// and without one.
func TestPublicKeyTokens(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := writeJWKS(t, rk, ek)
	c, _ := newTestController(t, Config{JWKSFile: jwks})
	req := func(tok string) Request {
		return Request{Action: Publish, App: "live", Name: "x", Query: "token=" + tok, Remote: "[::1]:1"}
	}
	cases := []struct {
		name string
		o    MintOptions
		want string
	}{
		{"RS256 by kid", MintOptions{Key: rk, KeyID: "rsa1"}, ""},
		{"ES256 by kid", MintOptions{Key: ek, KeyID: "ec1"}, ""},
		{"ES256 without kid", MintOptions{Key: ek}, ""},
		{"unknown kid", MintOptions{Key: ek, KeyID: "nope"}, ReasonTokenInvalid},
		{"key not in the set", MintOptions{Key: stranger}, ReasonTokenInvalid},
		{"HS256 without a secret", MintOptions{Secret: []byte("x")}, ReasonTokenInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Action, tc.o.Stream, tc.o.TTL = Publish, "live/x", time.Hour
			a, err := admit(c, req(mint(t, tc.o)))
			if got := reasonOf(t, err); got != tc.want {
				t.Fatalf("reason %q, want %q (%v)", got, tc.want, err)
			}
			a.Done()
		})
	}
}

func writeJWKS(t *testing.T, rk *rsa.PrivateKey, ek *ecdsa.PrivateKey) string {
	t.Helper()
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	pt, err := ek.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa1", "use": "sig", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "EC", "kid": "ec1", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:])},
		{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}, // not for signatures: ignored
	}}
	data, _ := json.Marshal(doc)
	p := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseJWKSErrors(t *testing.T) {
	for _, doc := range []string{
		``, `{}`, `{"keys": []}`, `{"keys": [{"kty": "oct", "k": "AAAA"}]}`,
		`{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}`, // far too short
		`{"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}]}`,
		`{"keys": [{"kty": "EC", "crv": "P-256", "x": "` + strings.Repeat("A", 43) + `", "y": "` + strings.Repeat("A", 43) + `"}]}`, // not on the curve
		`{"keys": [{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}]}`,
	} {
		if _, err := ParseJWKS([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", doc)
		}
	}
}

func TestStreamMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, key string
		want         bool
	}{
		{"live/x", "live/x", true}, {"live/x", "live/xy", false}, {"live/*", "live/xy", true},
		{"live/*", "liv/x", false}, {"*", "a/b", true}, {"live/x*", "live/x2", true}, {"", "live/x", false},
	} {
		if got := StreamMatches(tc.pattern, tc.key); got != tc.want {
			t.Errorf("StreamMatches(%q, %q) = %v", tc.pattern, tc.key, got)
		}
	}
}

func TestRedactQuery(t *testing.T) {
	if got := RedactQuery("a=1&token=abc.def&b=2"); got != "a=1&token=REDACTED&b=2" {
		t.Errorf("got %q", got)
	}
}

func TestMintRefuses(t *testing.T) {
	for _, o := range []MintOptions{
		{Action: "watch", Stream: "live/x", TTL: time.Hour, Secret: []byte("s")},
		{Action: Play, TTL: time.Hour, Secret: []byte("s")},
		{Action: Play, Stream: "live/x", Secret: []byte("s")},
		{Action: Play, Stream: "live/x", TTL: time.Hour},
	} {
		if _, err := Mint(o); err == nil {
			t.Errorf("%+v: minted", o)
		}
	}
}
