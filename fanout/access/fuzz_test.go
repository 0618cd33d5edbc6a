package access

import (
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
		if ref == nil && TokenFromQuery(query) != good {
			// Only the minted token (or one equal to it) verifies.
			t.Fatalf("query %q admitted", query)
		}
		if ref != nil && ref.Reason == "" {
			t.Fatal("a refusal without a reason")
		}
		_ = RedactQuery(query)
	})
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
