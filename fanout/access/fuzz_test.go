package access

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// FuzzToken feeds arbitrary queries (and the tokens in them) to the check:
// it must never panic, and must admit only a token this secret signed.
func FuzzToken(f *testing.F) {
	good := mint(f, MintOptions{Action: Play, Stream: "live/x", TTL: time.Hour, Secret: []byte(testSecret)})
	for _, s := range []string{"", "token=", "token=" + good, "a=1&token=" + good, "token=" + good[:len(good)/2],
		"token=a.b.c", "token=%zz", "token=" + strings.Repeat("A", 300), ";token=x", "token=e30.e30.", good} {
		f.Add(s)
	}
	keys := keySet{secret: []byte(testSecret)}
	f.Fuzz(func(t *testing.T, query string) {
		r := Request{Action: Play, App: "live", Name: "x", Query: query}
		ref := keys.verify(&r, time.Now())
		if ref == nil && !signedWith(TokenFromQuery(query), testSecret) {
			t.Fatalf("query %q admitted", query)
		}
		if ref != nil && ref.Reason == "" {
			t.Fatal("a refusal without a reason")
		}
		_ = RedactQuery(query)
	})
}

// signedWith reports whether tok is header.payload.signature with an
// HS256 signature by secret, checked here without the JWT library. Each
// fuzz worker is a process of its own that mints its own token a moment
// apart from the others, so "the seed's token" is not a fixed string.
func signedWith(tok, secret string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	return hmac.Equal(sig, mac.Sum(nil))
}

// FuzzParseJWKS: any document is a key set or an error, never a panic.
func FuzzParseJWKS(f *testing.F) {
	for _, s := range []string{`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}`, `{"keys":[]}`, `[]`, `{"keys":[{}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseJWKS(data)
		if err == nil && len(keys) > maxJWKSKeys {
			t.Fatalf("%d keys", len(keys))
		}
	})
}

// FuzzParseIPList: a list parses or fails; what parses matches without
// panicking.
func FuzzParseIPList(f *testing.F) {
	for _, s := range []string{"", "10.0.0.0/8", "::1, 127.0.0.1", "::ffff:10.0.0.0/104", "1.2.3.4/40", ",,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseIPList(s)
		if err != nil {
			return
		}
		r := Request{Remote: "10.1.2.3:4"}
		l.Contains(r.addr())
	})
}
