package rtmp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// The vectors below were computed independently (Python's hmac module) from
// hsFixedC1: the keys, the digest position and the S2 key derivation all have
// to match what Flash Player, librtmp and ffmpeg compute.
const (
	hsVecDigestAt8   = "cc42cf2e11583829ba28ed0d8f80a11067054f84cfe9a04eb2c8eb3fb20caf2f"
	hsVecS2KeyAt8    = "4a2c57388cab4c625775b215874586fdaa1802e5f53ba29f59fe389dd3270096"
	hsVecDigestAt772 = "6d3b6f2c53fd32ac097c278c8293f8cb9b9f19fd7c8394d2b2245086bc78340e"
	hsVecS2KeyAt772  = "c7262a7a8984e5eb8ab665cee0ccf68c3525dfd7f3e7ef1978923a3f269c20a4"
)

// hsFixedC1 builds a deterministic digest-form C1 whose offset field at off
// sums to 10, so its digest sits at off+4+10; the digest itself is left for
// the caller to fill in.
func hsFixedC1(off int) (c1 []byte, pos int) {
	c1 = make([]byte, handshakeSize)
	for i := range c1 {
		c1[i] = byte(i*7 + 3)
	}
	copy(c1[0:8], []byte{0, 0, 0, 0, 9, 0, 124, 2})
	copy(c1[off:off+4], []byte{1, 2, 3, 4})
	return c1, off + 4 + 10
}

func hsHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hsHMAC(key []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// hsRefDigestPos is the position formula written out independently of digestPos.
func hsRefDigestPos(p []byte, off int) int {
	return (int(p[off])+int(p[off+1])+int(p[off+2])+int(p[off+3]))%728 + off + 4
}

// hsRefServerDigest validates S1 the way ffmpeg's rtmp_validate_digest does
// (772 first, then 8) using only crypto/hmac; it returns the digest or nil.
func hsRefServerDigest(s1 []byte) []byte {
	for _, off := range []int{772, 8} {
		pos := hsRefDigestPos(s1, off)
		want := hsHMAC([]byte("Genuine Adobe Flash Media Server 001"), s1[:pos], s1[pos+32:])
		if bytes.Equal(want, s1[pos:pos+32]) {
			return s1[pos : pos+32]
		}
	}
	return nil
}

// hsMemRW is an in-memory peer: reads come from a fixed script, writes are kept.
type hsMemRW struct {
	r *bytes.Reader
	w bytes.Buffer
}

func (m *hsMemRW) Read(p []byte) (int, error)  { return m.r.Read(p) }
func (m *hsMemRW) Write(p []byte) (int, error) { return m.w.Write(p) }

func hsConcat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestHandshakeKnownVectors(t *testing.T) {
	tests := []struct {
		name      string
		off       int
		digest    string
		s2Key     string
		tamper    bool // flip a digest byte: the server must fall back to plain
		want      digestScheme
		wantPlain bool
	}{
		{name: "digest@8", off: 8, digest: hsVecDigestAt8, s2Key: hsVecS2KeyAt8, want: schemeAt8},
		{name: "digest@772", off: 772, digest: hsVecDigestAt772, s2Key: hsVecS2KeyAt772, want: schemeAt772},
		{name: "tampered@8", off: 8, digest: hsVecDigestAt8, tamper: true, want: schemeNone, wantPlain: true},
		{name: "tampered@772", off: 772, digest: hsVecDigestAt772, tamper: true, want: schemeNone, wantPlain: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c1, pos := hsFixedC1(tt.off)
			scheme := schemeAt8
			if tt.off == 772 {
				scheme = schemeAt772
			}
			if got := digestPos(c1, scheme); got != pos {
				t.Fatalf("digestPos = %d, want %d", got, pos)
			}
			copy(c1[pos:], hsHex(t, tt.digest))
			if tt.tamper {
				c1[pos+5] ^= 0x40
			}
			rw := &hsMemRW{r: bytes.NewReader(hsConcat([]byte{3}, c1, make([]byte, handshakeSize)))}
			info, err := serverHandshake(rw)
			if err != nil {
				t.Fatalf("serverHandshake: %v", err)
			}
			if info.scheme != tt.want {
				t.Fatalf("scheme = %v, want %v", info.scheme, tt.want)
			}
			out := rw.w.Bytes()
			if len(out) != 1+2*handshakeSize || out[0] != 3 {
				t.Fatalf("wrote %d bytes starting %#x, want 3073 starting 0x03", len(out), out[0])
			}
			s1, s2 := out[1:1+handshakeSize], out[1+handshakeSize:]
			if s1[4] < 3 {
				t.Errorf("S1 version byte %d < 3: ffmpeg would skip digest validation", s1[4])
			}
			if hsRefServerDigest(s1) == nil {
				t.Error("S1 carries no digest valid under the FMS key")
			}
			if tt.wantPlain {
				if !bytes.Equal(s2, c1) {
					t.Error("plain fallback: S2 does not equal C1")
				}
				return
			}
			n := handshakeSize - 32
			if sig := hsHMAC(hsHex(t, tt.s2Key), s2[:n]); !bytes.Equal(sig, s2[n:]) {
				t.Error("S2 signature does not verify with the known S2 key")
			}
		})
	}
}

func TestHandshakeKeys(t *testing.T) {
	if len(playerKey) != 62 || len(serverKey) != 68 {
		t.Fatalf("key lengths %d, %d; want 62, 68", len(playerKey), len(serverKey))
	}
	if string(playerKey[:playerKeyTextLen]) != "Genuine Adobe Flash Player 001" ||
		string(serverKey[:serverKeyTextLen]) != "Genuine Adobe Flash Media Server 001" {
		t.Fatal("key text parts are wrong")
	}
	st := hsPool.Get().(*hsState)
	defer hsPool.Put(st)
	d := hsHex(t, hsVecDigestAt8)
	if got := st.signingKey(st.serverFull, d); hex.EncodeToString(got[:]) != hsVecS2KeyAt8 {
		t.Fatalf("S2 key = %x, want %s", got, hsVecS2KeyAt8)
	}
}

func TestHandshakePlainC1Echo(t *testing.T) {
	c1 := make([]byte, handshakeSize)
	for i := range c1 {
		c1[i] = byte(i * 13)
	}
	copy(c1[0:8], []byte{0, 0, 0x12, 0x34, 0, 0, 0, 0})
	// C2 must echo S1, which the peer only learns from the server's output.
	var out bytes.Buffer
	conn := &hsScriptedPeer{r: bytes.NewReader(hsConcat([]byte{3}, c1)), onWrite: func(p []byte) []byte {
		out.Write(p)
		return p[1 : 1+handshakeSize]
	}}
	info, err := serverHandshake(conn)
	if err != nil {
		t.Fatalf("serverHandshake: %v", err)
	}
	if info.scheme != schemeNone || info.c2 != c2Echo {
		t.Fatalf("info = %+v, want plain with echoed C2", info)
	}
	s2 := out.Bytes()[1+handshakeSize:]
	if !bytes.Equal(s2, c1) {
		t.Fatal("S2 does not equal C1")
	}
}

// hsScriptedPeer reads from r until the server writes; onWrite's result is
// what the server reads after that (the peer's C2).
type hsScriptedPeer struct {
	r       io.Reader
	onWrite func([]byte) []byte
	next    *bytes.Reader
}

func (s *hsScriptedPeer) Read(p []byte) (int, error) {
	if s.next != nil {
		return s.next.Read(p)
	}
	return s.r.Read(p)
}

func (s *hsScriptedPeer) Write(p []byte) (int, error) {
	s.next = bytes.NewReader(bytes.Clone(s.onWrite(p)))
	return len(p), nil
}

// hsConnPair returns both ends of a connection over net.Pipe or loopback TCP.
func hsConnPair(t *testing.T, transport string) (client, server net.Conn) {
	t.Helper()
	if transport == "pipe" {
		client, server = net.Pipe()
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			accepted <- c
		}()
		client, err = net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server = <-accepted
		if server == nil {
			t.Fatal("accept failed")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	_ = client.SetDeadline(deadline)
	_ = server.SetDeadline(deadline)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestHandshakeRoundTrip(t *testing.T) {
	for _, transport := range []string{"pipe", "tcp"} {
		for _, digest := range []bool{true, false} {
			name := transport + "/plain"
			wantScheme, wantC2 := schemeNone, c2Echo
			if digest {
				name = transport + "/digest"
				wantScheme, wantC2 = schemeAt8, c2Signed
			}
			t.Run(name, func(t *testing.T) {
				client, server := hsConnPair(t, transport)
				type result struct {
					scheme digestScheme
					err    error
				}
				done := make(chan result, 1)
				go func() {
					s, err := clientHandshake(client, digest)
					if err == nil {
						// The server must hand the caller exactly the
						// bytes after C2.
						_, err = client.Write([]byte("first chunk"))
					}
					done <- result{s, err}
				}()
				info, err := serverHandshake(server)
				if err != nil {
					t.Fatalf("server: %v", err)
				}
				next := make([]byte, len("first chunk"))
				if _, err := io.ReadFull(server, next); err != nil || string(next) != "first chunk" {
					t.Fatalf("after handshake read %q, %v", next, err)
				}
				res := <-done
				if res.err != nil {
					t.Fatalf("client: %v", res.err)
				}
				if info.scheme != wantScheme || info.c2 != wantC2 {
					t.Errorf("server saw %v/%d, want %v/%d", info.scheme, info.c2, wantScheme, wantC2)
				}
				if res.scheme != wantScheme {
					t.Errorf("client saw server scheme %v, want %v", res.scheme, wantScheme)
				}
			})
		}
	}
}

// hsRunServer feeds input to serverHandshake over net.Pipe, draining what
// the server writes. With closeAfter it then hangs up, but only once the
// server's answer (if C1 was complete) has been read, so that the server
// sees the close while reading rather than while writing.
func hsRunServer(t *testing.T, input []byte, closeAfter bool, deadline time.Duration) (handshakeInfo, time.Duration, error) {
	t.Helper()
	client, server := net.Pipe()
	defer server.Close()
	defer client.Close()
	_ = server.SetDeadline(time.Now().Add(deadline))
	answered := make(chan struct{})
	go func() {
		_, _ = io.CopyN(io.Discard, client, 1+2*handshakeSize)
		close(answered)
		_, _ = io.Copy(io.Discard, client)
	}()
	go func() {
		_, _ = client.Write(input)
		if !closeAfter {
			return
		}
		if len(input) >= 1+handshakeSize {
			select {
			case <-answered:
			case <-time.After(deadline):
			}
		}
		client.Close()
	}()
	start := time.Now()
	info, err := serverHandshake(server)
	return info, time.Since(start), err
}

func TestHandshakeBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	full := func(c0 byte) []byte { return hsConcat([]byte{c0}, random(2*handshakeSize)) }
	tests := []struct {
		name       string
		input      []byte
		closeAfter bool
		reason     string // "" means the handshake must succeed
		detail     string
		is         error
	}{
		{name: "version 0x00", input: full(0x00), reason: "handshake_version", detail: "got 0x00: unsupported RTMP version"},
		{name: "version 0x06 RTMPE", input: full(0x06), reason: "handshake_version", detail: "RTMPE"},
		{name: "HTTP GET", input: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), reason: "handshake_version", detail: "got 0x47 ('G'): not RTMP (HTTP?)"},
		{name: "TLS ClientHello", input: []byte{0x16, 0x03, 0x01, 0x02, 0x00}, reason: "handshake_version", detail: "got 0x16: not RTMP (TLS"},
		{name: "empty then close", input: nil, closeAfter: true, reason: "handshake_io", is: io.EOF},
		{name: "C0 only", input: []byte{3}, closeAfter: true, reason: "handshake_io", is: io.ErrUnexpectedEOF},
		{name: "C1 cut at 100", input: hsConcat([]byte{3}, random(100)), closeAfter: true, reason: "handshake_io", is: io.ErrUnexpectedEOF},
		{name: "C1 cut at 1535", input: hsConcat([]byte{3}, random(1535)), closeAfter: true, reason: "handshake_io", is: io.ErrUnexpectedEOF},
		{name: "no C2", input: hsConcat([]byte{3}, random(handshakeSize)), closeAfter: true, reason: "handshake_io", is: io.EOF},
		{name: "C2 cut at 1000", input: hsConcat([]byte{3}, random(handshakeSize+1000)), closeAfter: true, reason: "handshake_io", is: io.ErrUnexpectedEOF},
		{name: "stall mid C1", input: hsConcat([]byte{3}, random(700)), reason: "handshake_io", is: os.ErrDeadlineExceeded},
		{name: "garbage C1 falls back to plain", input: full(3)},
		{name: "zero C1 falls back to plain", input: hsConcat([]byte{3}, make([]byte, 2*handshakeSize))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, took, err := hsRunServer(t, tt.input, tt.closeAfter, 500*time.Millisecond)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				if info.scheme != schemeNone || info.c2 != c2Other {
					t.Fatalf("info = %+v, want plain with unrecognised C2", info)
				}
				return
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Reason != tt.reason {
				t.Fatalf("err = %v, want ProtocolError %q", err, tt.reason)
			}
			if !strings.Contains(pe.Detail, tt.detail) {
				t.Errorf("detail %q does not contain %q", pe.Detail, tt.detail)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			// Refusals must not wait for the deadline.
			if tt.reason == "handshake_version" && took > 250*time.Millisecond {
				t.Errorf("refusal took %v: the server waited for a full C1", took)
			}
		})
	}
}

// hsFakeServer answers a client's C0+C1 with whatever mutate makes of a correct
// digest-form answer, then drains the client's C2.
func hsFakeServer(t *testing.T, conn net.Conn, mutate func(s0s1s2, c1 []byte)) {
	t.Helper()
	go func() {
		st := hsPool.Get().(*hsState)
		defer hsPool.Put(st)
		in := make([]byte, 1+handshakeSize)
		if _, err := io.ReadFull(conn, in); err != nil {
			return
		}
		c1 := in[1:]
		out := make([]byte, 1+2*handshakeSize)
		out[0] = 3
		s1, s2 := out[1:1+handshakeSize], out[1+handshakeSize:]
		st.fillDigestBlock(s1, serverVersion, st.serverText, schemeAt8)
		if scheme, pos := st.findDigest(st.playerText, c1); scheme != schemeNone {
			key := st.signingKey(st.serverFull, c1[pos:pos+digestLen])
			st.sign(s2, &key)
		} else {
			copy(s2, c1)
		}
		mutate(out, c1)
		_, _ = conn.Write(out)
		_, _ = io.Copy(io.Discard, conn)
	}()
}

func TestHandshakeClientRejectsBadServer(t *testing.T) {
	tests := []struct {
		name   string
		plain  bool
		mutate func(out, c1 []byte)
		reason string
	}{
		{name: "correct server", mutate: func(out, c1 []byte) {}},
		{name: "S0 not 3", mutate: func(out, c1 []byte) { out[0] = 6 }, reason: "handshake_version"},
		{name: "S1 digest broken", mutate: func(out, c1 []byte) {
			pos := digestPos(out[1:], schemeAt8)
			out[1+pos] ^= 1
		}, reason: "handshake_digest"},
		{name: "S2 signature broken", mutate: func(out, c1 []byte) { out[len(out)-1] ^= 1 }, reason: "handshake_signature"},
		{name: "plain server echoing", mutate: func(out, c1 []byte) {
			clear(out[1+4 : 1+8]) // zero version: a plain server
			copy(out[1+handshakeSize:], c1)
		}},
		{name: "plain server not echoing", mutate: func(out, c1 []byte) {
			clear(out[1+4 : 1+8])
			out[len(out)-1] ^= 1
		}, reason: "handshake_echo"},
		{name: "plain client, echo broken", plain: true, mutate: func(out, c1 []byte) { out[len(out)-1] ^= 1 }, reason: "handshake_echo"},
		{name: "plain client, S2 time2 differs", plain: true, mutate: func(out, c1 []byte) {
			copy(out[1+handshakeSize+4:], []byte{1, 2, 3, 4}) // allowed by the spec
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := hsConnPair(t, "pipe")
			hsFakeServer(t, server, tt.mutate)
			_, err := clientHandshake(client, !tt.plain)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Reason != tt.reason {
				t.Fatalf("err = %v, want ProtocolError %q", err, tt.reason)
			}
		})
	}
}

func TestHandshakeIOErrorWrapping(t *testing.T) {
	err := ioErr("reading C2", io.EOF)
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Reason != "handshake_io" || !errors.Is(err, io.EOF) {
		t.Fatalf("ioErr does not wrap both: %v", err)
	}
	if got, want := err.Error(), "rtmp: handshake_io: reading C2: EOF"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	// A net timeout must still be recognisable as one.
	var ne net.Error
	_, _, terr := hsRunServer(t, []byte{3}, false, 20*time.Millisecond)
	if !errors.As(terr, &ne) || !ne.Timeout() {
		t.Fatalf("stalled handshake error %v is not a net.Error timeout", terr)
	}
}

func TestHandshakeAllocs(t *testing.T) {
	if hsRaceEnabled() {
		t.Skip("allocation counts are not meaningful under the race detector (-race)")
	}
	digestIn := hsClientScript(t, true)
	plainIn := hsClientScript(t, false)
	for _, tc := range []struct {
		name  string
		input []byte
		max   float64
	}{
		// hmac.New for the per-handshake S2 key and for checking C2.
		{"digest", digestIn, 16},
		{"plain", plainIn, 0},
	} {
		r := bytes.NewReader(tc.input)
		var rw io.ReadWriter = struct {
			io.Reader
			io.Writer
		}{r, io.Discard}
		allocs := testing.AllocsPerRun(200, func() {
			r.Reset(tc.input)
			if _, err := serverHandshake(rw); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%s: %.0f allocs per server handshake", tc.name, allocs)
		if allocs > tc.max {
			t.Errorf("%s: %.0f allocs per handshake, want <= %.0f", tc.name, allocs, tc.max)
		}
	}
}

func hsRaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// hsClientScript records what our client sends (C0+C1+C2) against our server,
// for replay in benchmarks, allocation tests and fuzz seeds. The C2 is valid
// only for that server's S1, so replays see it as c2Other; that costs the
// same work as a signed C2.
func hsClientScript(t testing.TB, digest bool) []byte {
	t.Helper()
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	var rec bytes.Buffer
	var mu sync.Mutex
	errc := make(chan error, 1)
	go func() {
		_, err := serverHandshake(&hsRecorder{Conn: server, mu: &mu, rec: &rec})
		errc <- err
	}()
	if _, err := clientHandshake(client, digest); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return bytes.Clone(rec.Bytes())
}

type hsRecorder struct {
	net.Conn
	mu  *sync.Mutex
	rec *bytes.Buffer
}

func (r *hsRecorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.rec.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

func BenchmarkServerHandshake(b *testing.B) {
	for _, digest := range []bool{true, false} {
		name := "plain"
		if digest {
			name = "digest"
		}
		input := hsClientScript(b, digest)
		b.Run(name, func(b *testing.B) {
			r := bytes.NewReader(input)
			var rw io.ReadWriter = struct {
				io.Reader
				io.Writer
			}{r, io.Discard}
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(input)
				if _, err := serverHandshake(rw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// hsFFmpegResult is what a one-connection server saw of ffmpeg: the
// handshake, the first chunk's header facts and ffmpeg's stderr.
type hsFFmpegResult struct {
	info      handshakeInfo
	fmtBits   byte
	msgType   byte
	payload   []byte // the first chunk's payload (up to 128 bytes)
	stderr    string
	handshake error
}

// hsRunFFmpeg runs ffmpeg with args against a listener that performs the
// server handshake on the first connection and reads the client's first
// chunk, then hangs up and kills ffmpeg.
func hsRunFFmpeg(t *testing.T, args func(url string) []string) hsFFmpegResult {
	t.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not on PATH (apt-get install ffmpeg): cannot test against a real client")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	url := fmt.Sprintf("rtmp://%s/live/x", ln.Addr())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args(url)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()

	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(15 * time.Second))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("ffmpeg did not connect: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))

	var res hsFFmpegResult
	res.info, res.handshake = serverHandshake(conn)
	if res.handshake == nil {
		res.fmtBits, res.msgType, res.payload, err = hsReadFirstChunk(conn)
		if err != nil {
			t.Errorf("reading ffmpeg's first chunk: %v", err)
		}
	}
	conn.Close()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	res.stderr = stderr.String()
	return res
}

// hsReadFirstChunk reads one chunk with a type 0 header at the default chunk size.
func hsReadFirstChunk(r io.Reader) (fmtBits, msgType byte, payload []byte, err error) {
	var hdr [14]byte
	if _, err = io.ReadFull(r, hdr[:1]); err != nil {
		return
	}
	fmtBits = hdr[0] >> 6
	basic := 1 + map[byte]int{0: 1, 1: 2}[hdr[0]&0x3f]
	if fmtBits != 0 {
		return
	}
	if _, err = io.ReadFull(r, hdr[1:basic+11]); err != nil {
		return
	}
	h := hdr[basic:]
	length := int(h[3])<<16 | int(h[4])<<8 | int(h[5])
	msgType = h[6]
	payload = make([]byte, min(length, DefaultChunkSize))
	_, err = io.ReadFull(r, payload)
	return
}

func hsCheckFFmpegConnect(t *testing.T, res hsFFmpegResult) {
	t.Helper()
	if res.handshake != nil {
		t.Fatalf("handshake with ffmpeg failed: %v\nffmpeg stderr: %s", res.handshake, res.stderr)
	}
	if res.info.scheme == schemeNone {
		t.Errorf("ffmpeg's C1 was not recognised as digest form")
	}
	if res.fmtBits != 0 || res.msgType != TypeCommandAMF0 {
		t.Errorf("first chunk fmt %d type %d, want fmt 0 type 20 (connect)", res.fmtBits, res.msgType)
	}
	if !bytes.HasPrefix(res.payload, []byte("\x02\x00\x07connect")) {
		t.Errorf("first command is not connect: % x", res.payload[:min(16, len(res.payload))])
	}
	for _, bad := range []string{"validating failed", "Signature mismatch", "handshake"} {
		if strings.Contains(res.stderr, bad) {
			t.Errorf("ffmpeg complained about the handshake (%q): %s", bad, res.stderr)
		}
	}
	t.Logf("ffmpeg C1 %v, C2 kind %d; stderr after we hung up: %q", res.info.scheme, res.info.c2, res.stderr)
}

func TestHandshakeFFmpegPlayer(t *testing.T) {
	// As a player ffmpeg validates S1's digest and S2's signature, and then
	// signs its C2 with the key derived from S1's digest.
	res := hsRunFFmpeg(t, func(url string) []string {
		return []string{"-nostdin", "-loglevel", "error", "-rw_timeout", "5000000", "-i", url, "-f", "null", "-"}
	})
	hsCheckFFmpegConnect(t, res)
	if res.info.c2 != c2Signed {
		t.Errorf("ffmpeg player's C2 kind %d, want signed (%d)", res.info.c2, c2Signed)
	}
}

func TestHandshakeFFmpegPublisher(t *testing.T) {
	// As a publisher ffmpeg sends a digest C1 but does not validate the
	// answer; it echoes S1 as C2.
	res := hsRunFFmpeg(t, func(url string) []string {
		return []string{"-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=5",
			"-t", "1", "-rw_timeout", "5000000", "-f", "flv", url}
	})
	hsCheckFFmpegConnect(t, res)
	if res.info.scheme != schemeAt8 {
		t.Errorf("ffmpeg publisher's C1 scheme %v, want %v", res.info.scheme, schemeAt8)
	}
	if res.info.c2 != c2Echo {
		t.Errorf("ffmpeg publisher's C2 kind %d, want echo (%d)", res.info.c2, c2Echo)
	}
}

// TestHandshakeFFmpegServer runs both client forms against ffmpeg's own
// listening RTMP server, an implementation independent of ours: it answers in
// the plain form and warns when C2 does not echo its S1.
func TestHandshakeFFmpegServer(t *testing.T) {
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not on PATH (apt-get install ffmpeg): cannot test against a real server")
	}
	for _, tc := range []struct {
		name   string
		client func(io.ReadWriter) error
	}{
		{"digest", ClientHandshake},
		{"plain", ClientHandshakePlain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close() // ffmpeg listens here instead

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, path, "-nostdin", "-loglevel", "warning", "-listen", "1",
				"-i", "rtmp://"+addr+"/live/x", "-f", "null", "-")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}()

			var conn net.Conn
			for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(50 * time.Millisecond) {
				if conn, err = net.Dial("tcp", addr); err == nil {
					break
				}
			}
			if conn == nil {
				t.Fatalf("ffmpeg never listened on %s: %v", addr, err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if err := tc.client(conn); err != nil {
				t.Fatalf("handshake with ffmpeg's server: %v", err)
			}
			// ffmpeg now waits for connect; had it disliked C2 it would
			// have warned by the time it reads more.
			_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			var one [1]byte
			_, rerr := conn.Read(one[:])
			conn.Close()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			var ne net.Error
			if !errors.As(rerr, &ne) || !ne.Timeout() {
				t.Errorf("after the handshake ffmpeg did not wait for connect: read returned %v", rerr)
			}
			for _, bad := range []string{"Erroneous C2", "Handshake"} {
				if strings.Contains(stderr.String(), bad) {
					t.Errorf("ffmpeg complained (%q): %s", bad, stderr.String())
				}
			}
		})
	}
}
