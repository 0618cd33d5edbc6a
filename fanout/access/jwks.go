package access

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"

	"github.com/golang-jwt/jwt/v5"
)

// jwk is one JSON Web Key (RFC 7517) of the kinds tokens may be signed
// with: RSA (n, e) and EC P-256 (x, y) public keys.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// maxJWKSKeys bounds a JWKS file: a key set is a handful of keys.
const maxJWKSKeys = 64

// ParseJWKS reads a JWKS document ({"keys": [...]}) into public keys by
// kid; a key without a kid is named by its position ("#0"). Keys whose use
// is not "sig", and private parts, are ignored; a key that does not parse
// is an error, so a typo is found at load, not at the first publish.
func ParseJWKS(data []byte) (map[string]crypto.PublicKey, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if len(doc.Keys) == 0 {
		return nil, errors.New("jwks: no keys")
	}
	if len(doc.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("jwks: %d keys, at most %d", len(doc.Keys), maxJWKSKeys)
	}
	out := map[string]crypto.PublicKey{}
	for i, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pk, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("jwks: key %d (%q): %w", i, k.Kid, err)
		}
		id := k.Kid
		if id == "" {
			id = fmt.Sprintf("#%d", i)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("jwks: two keys with kid %q", id)
		}
		out[id] = pk
	}
	return out, nil
}

// LoadJWKS reads the JWKS file at path.
func LoadJWKS(path string) (map[string]crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return ParseJWKS(data)
}

func (k *jwk) publicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "RSA":
		n, err := b64int(k.N)
		if err != nil {
			return nil, fmt.Errorf("n: %w", err)
		}
		e, err := b64int(k.E)
		if err != nil {
			return nil, fmt.Errorf("e: %w", err)
		}
		if n.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits: at least 2048 wanted", n.BitLen())
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return nil, errors.New("bad RSA exponent")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		if k.Crv != "P-256" {
			return nil, fmt.Errorf("curve %q: only P-256 (ES256)", k.Crv)
		}
		x, err := b64fixed(k.X, 32)
		if err != nil {
			return nil, fmt.Errorf("x: %w", err)
		}
		y, err := b64fixed(k.Y, 32)
		if err != nil {
			return nil, fmt.Errorf("y: %w", err)
		}
		// The parser checks that the point is on the curve.
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	}
	return nil, fmt.Errorf("key type %q: RSA or EC wanted", k.Kty)
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || len(b) > 1024 {
		return nil, fmt.Errorf("%d bytes", len(b))
	}
	return new(big.Int).SetBytes(b), nil
}

func b64fixed(s string, n int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), n)
	}
	return b, nil
}

// methodFor is the signing method of a private key.
func methodFor(k crypto.Signer) (jwt.SigningMethod, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return jwt.SigningMethodRS256, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("only P-256 EC keys (ES256)")
		}
		return jwt.SigningMethodES256, nil
	}
	return nil, fmt.Errorf("key type %T: RSA or EC P-256 wanted", k)
}
