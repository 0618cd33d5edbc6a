package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// teeConn keeps a copy of everything read from the connection.
type teeConn struct {
	net.Conn
	mu  sync.Mutex
	got bytes.Buffer
}

func (c *teeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.got.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

// handshakeLen is S0+S1+S2, the only random bytes a player receives.
const handshakeLen = 1 + 1536 + 1536

// publishFixed publishes an exact, deterministic sequence of messages.
func publishFixed(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := rtmp.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(); err != nil {
		t.Fatal(err)
	}
	meta, _ := rtmp.AppendAMF0(nil, "@setDataFrame", "onMetaData", rtmp.ECMAArray{{Key: "width", Value: 320.0}, {Key: "framerate", Value: 25.0}})
	send := func(typ uint8, ts uint32, p []byte) {
		if err := c.WriteMessage(&rtmp.Message{Type: typ, Timestamp: ts, Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	send(rtmp.TypeDataAMF0, 0, meta)
	send(rtmp.TypeVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff})
	send(rtmp.TypeAudio, 0, []byte{0xaf, 0, 0x12, 0x10})
	for i := range 150 {
		ts := uint32(i * 40)
		frame := bytes.Repeat([]byte{byte(i)}, 3000+97*(i%13))
		frame[0], frame[1] = 0x27, 1
		if i%25 == 0 {
			frame[0] = 0x17
			frame = append(frame, bytes.Repeat([]byte{0xee}, 20000)...)
		}
		send(rtmp.TypeVideo, ts, frame)
		send(rtmp.TypeAudio, ts+3, append([]byte{0xaf, 1}, bytes.Repeat([]byte{byte(i)}, 200)...))
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recordPlay plays name and returns every byte received after the
// handshake, up to and including the UnpublishNotify.
func recordPlay(t *testing.T, srv *testServer, name string, playing chan<- struct{}) []byte {
	raw, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Error(err)
		close(playing)
		return nil
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(30 * time.Second))
	tc := &teeConn{Conn: raw}
	c := rtmp.NewClient(tc, "live", name, "rtmp://"+srv.addr+"/live")
	err = c.Connect()
	if err == nil {
		err = c.Play()
	}
	close(playing)
	if err != nil {
		t.Error(err)
		return nil
	}
	for {
		m, err := c.ReadMessage()
		if err != nil {
			t.Errorf("player: %v", err)
			return nil
		}
		if m.Type == rtmp.TypeCommandAMF0 && bytes.Contains(m.Payload, []byte(rtmp.CodePlayUnpublish)) {
			break
		}
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	// Bytes read ahead past the notice (none are sent) would differ by timing.
	return append([]byte(nil), tc.got.Bytes()[handshakeLen:c.BytesRead()+handshakeLen]...)
}

// TestTransportsByteIdentical publishes the same input to a server on each
// transport and requires the bytes a player receives to be identical: the
// wire log, not the transport, decides what goes on the wire.
func TestTransportsByteIdentical(t *testing.T) {
	got := map[string][]byte{}
	for _, tr := range testTransports {
		eachTransportOnly(t, tr, func(t *testing.T) {
			srv := startServer(t, "-publish-grace", "2s")
			playing := make(chan struct{})
			var rec []byte
			done := make(chan struct{})
			go func() { defer close(done); rec = recordPlay(t, srv, "ident", playing) }()
			<-playing
			waitFor(t, 5*time.Second, "player attached", func() bool { return srv.logs.Count(waitingForPublisher) >= 1 })
			publishFixed(t, srv.url("ident"))
			<-done
			if len(rec) < 150*3000 {
				t.Fatalf("player received only %d bytes", len(rec))
			}
			got[tr] = rec
			t.Logf("%s: %d bytes, sha256 %x", tr, len(rec), sha256.Sum256(rec))
		})
	}
	if len(got) == len(testTransports) && !bytes.Equal(got["netpoll"], got["uring"]) {
		a, b := got["netpoll"], got["uring"]
		i := 0
		for i < min(len(a), len(b)) && a[i] == b[i] {
			i++
		}
		t.Fatalf("netpoll and uring players differ: %d vs %d bytes, first difference at byte %d", len(a), len(b), i)
	}
}
