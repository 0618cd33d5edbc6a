package access

import (
	"crypto"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are what a bbllive token says: the action it allows, the stream
// (or streams) it is for, and the registered claims (exp is required).
type Claims struct {
	// Action is "publish" or "play"; a token allows exactly one.
	Action Action `json:"action"`
	// Stream is the stream key "app/name" the token is for, or a pattern:
	// a trailing '*' matches any rest ("live/*", "*").
	Stream string `json:"stream"`
	jwt.RegisteredClaims
}

// StreamMatches reports whether pattern (a Claims.Stream) covers key.
func StreamMatches(pattern, key string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(key, prefix)
	}
	return pattern == key
}

// TokenFromQuery returns the token parameter of a raw query string, "" when
// there is none. A query that does not parse yields what parsed before the
// fault, as url.ParseQuery does.
func TokenFromQuery(query string) string {
	v, _ := url.ParseQuery(query)
	return v.Get("token")
}

// RedactQuery returns query with the token's value replaced, for logs.
func RedactQuery(query string) string {
	parts := strings.Split(query, "&")
	for i, p := range parts {
		if k, _, ok := strings.Cut(p, "="); ok && k == "token" {
			parts[i] = "token=REDACTED"
		}
	}
	return strings.Join(parts, "&")
}

// allowedAlgs are the signing methods a token may use. Anything else (none,
// HS384 with an RSA key, …) is refused before its signature is looked at.
var allowedAlgs = []string{"HS256", "RS256", "ES256"}

// keySet verifies tokens: HS256 with the shared secret, RS256/ES256 with
// public keys from a JWKS file, chosen by the token's kid (or any key of
// the right type when the token names none).
type keySet struct {
	secret []byte
	public map[string]crypto.PublicKey // by kid
}

func (k *keySet) enabled() bool { return len(k.secret) > 0 || len(k.public) > 0 }

// keyFor is the jwt.Keyfunc.
func (k *keySet) keyFor(t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if len(k.secret) == 0 {
			return nil, errors.New("HS256 token but no -auth-secret")
		}
		return k.secret, nil
	case *jwt.SigningMethodRSA, *jwt.SigningMethodECDSA:
		kid, _ := t.Header["kid"].(string)
		if kid != "" {
			if pk, ok := k.public[kid]; ok {
				return pk, nil
			}
			return nil, fmt.Errorf("no key %q in the JWKS", kid)
		}
		var keys jwt.VerificationKeySet
		for _, pk := range k.public {
			keys.Keys = append(keys.Keys, pk)
		}
		if len(keys.Keys) == 0 {
			return nil, errors.New("public-key token but no -auth-jwks")
		}
		return keys, nil
	}
	return nil, fmt.Errorf("signing method %v not accepted", t.Header["alg"])
}

// verify checks the request's token against the key set and the request.
func (k *keySet) verify(r *Request, now time.Time) *Refusal {
	raw := TokenFromQuery(r.Query)
	if raw == "" {
		return refuse(ReasonTokenMissing, "a token is required (?token=…)")
	}
	var c Claims
	p := jwt.NewParser(jwt.WithValidMethods(allowedAlgs), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithLeeway(5*time.Second))
	if _, err := p.ParseWithClaims(raw, &c, k.keyFor); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return refuse(ReasonTokenExpired, "the token has expired")
		}
		return refuse(ReasonTokenInvalid, tokenError(err))
	}
	if c.Action != r.Action {
		return refuse(ReasonTokenAction, fmt.Sprintf("the token allows %q, not %q", c.Action, r.Action))
	}
	if !StreamMatches(c.Stream, r.Stream()) {
		return refuse(ReasonTokenStream, fmt.Sprintf("the token is for %q, not %q", c.Stream, r.Stream()))
	}
	return nil
}

// tokenError is a parse failure's message without the token's bytes: the
// library's messages name what failed, never the input, but a bound keeps
// it that way for any future message.
func tokenError(err error) string {
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:160]
	}
	return "the token is not valid: " + msg
}

// MintOptions describe a token to sign.
type MintOptions struct {
	Action Action
	Stream string
	TTL    time.Duration
	// Secret signs with HS256; else Key (an *rsa.PrivateKey or
	// *ecdsa.PrivateKey) signs with RS256 or ES256, and KeyID names it.
	Secret []byte
	Key    crypto.Signer
	KeyID  string
	// Now is the issue time (time.Now when zero).
	Now time.Time
}

// Mint signs a token for o.
func Mint(o MintOptions) (string, error) {
	if o.Action != Publish && o.Action != Play {
		return "", fmt.Errorf("action %q: want publish or play", o.Action)
	}
	if o.Stream == "" {
		return "", errors.New("a stream (app/name, or a prefix ending in *) is required")
	}
	if o.TTL <= 0 {
		return "", errors.New("the ttl must be positive")
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	c := Claims{Action: o.Action, Stream: o.Stream, RegisteredClaims: jwt.RegisteredClaims{
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(o.TTL))}}
	var t *jwt.Token
	var key any
	switch {
	case len(o.Secret) > 0:
		t, key = jwt.NewWithClaims(jwt.SigningMethodHS256, c), o.Secret
	case o.Key != nil:
		m, err := methodFor(o.Key)
		if err != nil {
			return "", err
		}
		t, key = jwt.NewWithClaims(m, c), o.Key
		if o.KeyID != "" {
			t.Header["kid"] = o.KeyID
		}
	default:
		return "", errors.New("a secret or a private key is required")
	}
	return t.SignedString(key)
}
