// Package tlstest is test support for TLS: a self-signed certificate for
// 127.0.0.1, in memory or written to files as a server's -tls-cert and
// -tls-key take it.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Cert is a self-signed certificate for 127.0.0.1 and its key.
type Cert struct {
	DER []byte
	Key *ecdsa.PrivateKey
}

// New makes a certificate for 127.0.0.1, valid for an hour either side of
// now, with serial as its serial number.
func New(t testing.TB, serial int64) *Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "bbllive test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &Cert{DER: der, Key: key}
}

// Configs makes a certificate and returns a server configuration that
// presents it and a client configuration that trusts it.
func Configs(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	c := New(t, 1)
	return c.ServerConfig(), c.ClientConfig(t)
}

// ServerConfig presents c.
func (c *Cert) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{c.DER}, PrivateKey: c.Key}}}
}

// ClientConfig trusts c alone.
func (c *Cert) ClientConfig(t testing.TB) *tls.Config {
	t.Helper()
	cert, err := x509.ParseCertificate(c.DER)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{RootCAs: pool}
}

// WriteFiles writes a certificate with serial to dir as cert.pem and
// key.pem and returns their paths. Each is written aside and renamed, as
// certificate tools do, so that a server reloading them never sees half a
// file.
func WriteFiles(t testing.TB, dir string, serial int64) (certFile, keyFile string) {
	t.Helper()
	c := New(t, serial)
	kb, err := x509.MarshalECPrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []struct {
		path, typ string
		b         []byte
	}{{certFile, "CERTIFICATE", c.DER}, {keyFile, "EC PRIVATE KEY", kb}} {
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.b}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}
