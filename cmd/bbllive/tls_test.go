package main

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/tlstest"
)

// startTLSServer starts a server with an RTMPS listener and returns it
// with its RTMPS address.
func startTLSServer(t *testing.T, certFile, keyFile string, opts ...string) (*testServer, string) {
	t.Helper()
	addrc := make(chan string, 1)
	srv := startServerWith(t, func(c *serveConfig) { c.tls.onListen = func(a net.Addr) { addrc <- a.String() } },
		append([]string{"-listen-tls", "127.0.0.1:0", "-tls-cert", certFile, "-tls-key", keyFile}, opts...)...)
	return srv, <-addrc
}

// servedSerial is the serial number of the certificate addr presents.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestRTMPSWithFFmpeg: ffmpeg publishes over rtmps:// to a self-signed
// listener (ffmpeg's -tls_verify is 0 by default) and plays it back over
// rtmps:// and plain RTMP; a second server takes the stream as a -forward
// rtmps:// target trusted through -relay-ca.
func TestRTMPSWithFFmpeg(t *testing.T) {
	eachTransport(t, testRTMPSWithFFmpeg)
}

func testRTMPSWithFFmpeg(t *testing.T) {
	clip := testClip(t)
	dir := t.TempDir()
	certFile, keyFile := tlstest.WriteFiles(t, dir, 1)
	target, targetTLS := startTLSServer(t, certFile, keyFile)
	srv, tlsAddr := startTLSServer(t, certFile, keyFile, "-forward", "rtmps://"+targetTLS, "-relay-ca", certFile)

	pub := ffmpegLoopPublisher(t, clip, "rtmps://"+tlsAddr+"/live/secure")
	defer pub.kill()
	out := t.TempDir()
	files := map[string]string{
		"rtmps://" + tlsAddr + "/live/secure": filepath.Join(out, "rtmps.flv"),
		srv.url("secure"):                     filepath.Join(out, "rtmp.flv"),
		target.url("secure"):                  filepath.Join(out, "forwarded.flv"),
	}
	errc := make(chan error, len(files))
	for url, f := range files {
		go func() { errc <- ffmpegRecord(url, f, 3) }()
	}
	for range files {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	for url, f := range files {
		r := ffprobe(t, f)
		if len(r.codecs) != 2 || r.videoPackets < 2*clipFPS || r.audioPackets == 0 || !r.firstVideoK {
			t.Errorf("%s: %+v, want h264+aac, ≥ %d video packets from a keyframe", url, r, 2*clipFPS)
		}
	}
}

// TestRTMPSCertificateReload: a changed certificate file is served from
// the next handshake on; a broken one keeps the previous certificate.
func TestRTMPSCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := tlstest.WriteFiles(t, dir, 1)
	_, addr := startTLSServer(t, certFile, keyFile)
	if got := servedSerial(t, addr); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}
	time.Sleep(1100 * time.Millisecond) // past the once-a-second check and the file system's time granularity
	tlstest.WriteFiles(t, dir, 2)
	waitFor(t, 5*time.Second, "the new certificate is served", func() bool { return servedSerial(t, addr) == 2 })
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if got := servedSerial(t, addr); got != 2 {
		t.Fatalf("after a broken file the server presents serial %d, want the previous 2", got)
	}
}

func TestTLSFlagsNeedEachOther(t *testing.T) {
	for _, args := range [][]string{{"-listen-tls", "127.0.0.1:0"}, {"-tls-cert", "x.pem", "-tls-key", "y.pem"}} {
		var c serveConfig
		if err := serveFlags(&c).Parse(args); err != nil {
			t.Fatal(err)
		}
		if _, err := startTLS(&c.tls, nil, nil, nil); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
