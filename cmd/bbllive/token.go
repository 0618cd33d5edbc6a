package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/bbllive/bbllive/fanout/access"
)

// runToken prints a signed token: bbllive token -secret S -action publish
// -stream live/x -ttl 1h.
func runToken(args []string) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	secret := fs.String("secret", "", "HS256 secret (the server's -auth-secret)")
	keyFile := fs.String("key", "", "PEM private key (RSA or EC P-256) to sign RS256/ES256 instead; its public key goes in the server's -auth-jwks")
	kid := fs.String("kid", "", "key id to put in the token's header (the kid of the key in the JWKS)")
	action := fs.String("action", "", "publish or play")
	stream := fs.String("stream", "", "stream the token is for, app/name, or a prefix ending in * (live/*)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o := access.MintOptions{Action: access.Action(*action), Stream: *stream, TTL: *ttl, Secret: []byte(*secret), KeyID: *kid}
	if *keyFile != "" {
		k, err := loadPrivateKey(*keyFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bbllive token:", err)
			return 2
		}
		o.Key = k
	}
	if *secret != "" && *keyFile != "" {
		fmt.Fprintln(os.Stderr, "bbllive token: give -secret or -key, not both")
		return 2
	}
	tok, err := access.Mint(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bbllive token:", err)
		return 2
	}
	fmt.Println(tok)
	return 0
}

// loadPrivateKey reads a PEM PKCS#8, PKCS#1 (RSA) or SEC 1 (EC) key.
func loadPrivateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("%s: %T is not a signing key", path, k)
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("%s: not a PKCS#8, PKCS#1 or EC private key", path)
}
