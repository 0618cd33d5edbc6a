package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/websocket"
)

// wsClient is a minimal RFC 6455 client for the test: it masks what it
// sends and reads the server's frames.
type wsClient struct {
	c  net.Conn
	br *bufio.Reader
}

func dialWS(t *testing.T, addr, path string) *wsClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	if err := writeWSRequest(c, addr, path); err != nil {
		t.Fatal(err)
	}
	if err := readWSAccept(br); err != nil {
		t.Fatal(err)
	}
	return &wsClient{c: c, br: br}
}

// wsTestKey is the Sec-WebSocket-Key the test clients send.
const wsTestKey = "dGhlIHNhbXBsZSBub25jZQ=="

// writeWSRequest sends a WebSocket upgrade request for path, from a page
// on another origin.
func writeWSRequest(c net.Conn, addr, path string) error {
	_, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nOrigin: http://elsewhere\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", path, addr, wsTestKey)
	return err
}

// readWSAccept reads the answer to writeWSRequest and wants the switch.
func readWSAccept(br *bufio.Reader) error {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("websocket handshake: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != websocket.AcceptKey(wsTestKey) {
		return fmt.Errorf("websocket handshake: %s, accept %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	return nil
}

// next reads one server frame.
func (w *wsClient) next() (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(w.br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("server frame not final or masked: % x", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, err = io.ReadFull(w.br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, err = io.ReadFull(w.br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	if err != nil || n > 16<<20 {
		return 0, nil, fmt.Errorf("frame length %d: %v", n, err)
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(w.br, payload)
	return h[0] & 0x0f, payload, err
}

// send writes one masked client frame.
func (w *wsClient) send(op byte, payload []byte) error {
	mask := [4]byte{0x11, 0x22, 0x33, 0x44}
	b := []byte{0x80 | op, 0x80 | byte(len(payload))}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i&3])
	}
	_, err := w.c.Write(b)
	return err
}

// TestWebSocketFLV plays over WebSocket on each transport: FLV in binary
// frames, a ping answered with its pong between two frames, and a close
// answered with a close and the end of the connection.
func TestWebSocketFLV(t *testing.T) {
	eachTransport(t, func(t *testing.T) {
		srv := startServer(t)
		pub := startStepPublisher(t, srv.url("ws"))
		go pub.frames(150)
		w := dialWS(t, srv.http, "/live/ws.flv")
		op, first, err := w.next()
		if err != nil || op != websocket.OpBinary || !bytes.HasPrefix(first, []byte("FLV\x01\x05")) {
			t.Fatalf("first frame: op %d, % x, %v", op, first[:min(len(first), 8)], err)
		}
		if err := w.send(websocket.OpPing, []byte("are you there")); err != nil {
			t.Fatal(err)
		}
		media := 0
		for {
			op, p, err := w.next()
			if err != nil {
				t.Fatalf("waiting for the pong after %d media frames: %v", media, err)
			}
			if op == websocket.OpPong {
				if string(p) != "are you there" {
					t.Fatalf("pong %q", p)
				}
				break
			}
			if op != websocket.OpBinary || len(p) < 15 || p[0] != 8 && p[0] != 9 && p[0] != 18 {
				t.Fatalf("frame %d: op %d, not one FLV tag: % x", media, op, p[:min(len(p), 16)])
			}
			media++
		}
		if err := w.send(websocket.OpClose, []byte{0x03, 0xe8}); err != nil {
			t.Fatal(err)
		}
		for {
			op, p, err := w.next()
			if err != nil {
				t.Fatalf("waiting for the close: %v", err)
			}
			if op == websocket.OpClose {
				if !bytes.Equal(p, []byte{0x03, 0xe8}) {
					t.Errorf("close payload % x, want the status echoed", p)
				}
				break
			}
		}
		if err := readUntilClosed(w.c, 5*time.Second); err != nil {
			t.Fatalf("after the close: %v", err)
		}
	})
}

// TestWebSocketProtocolError: an unmasked client frame is a protocol error,
// answered with close 1002 and the end of the connection.
func TestWebSocketProtocolError(t *testing.T) {
	eachTransport(t, func(t *testing.T) {
		srv := startServer(t)
		startStepPublisher(t, srv.url("bad"))
		w := dialWS(t, srv.http, "/live/bad.flv")
		if _, err := w.c.Write(websocket.AppendFrame(nil, websocket.OpPing, []byte("x"))); err != nil {
			t.Fatal(err)
		}
		for {
			op, p, err := w.next()
			if err != nil {
				t.Fatalf("waiting for the close: %v", err)
			}
			if op == websocket.OpClose {
				if len(p) < 2 || binary.BigEndian.Uint16(p) != websocket.CloseProtocolError {
					t.Errorf("close payload % x, want status 1002", p)
				}
				break
			}
		}
		if err := readUntilClosed(w.c, 5*time.Second); err != nil {
			t.Fatalf("after the close: %v", err)
		}
	})
}

// TestWebSocketKeepalive: the server pings a WebSocket player every
// -ws-ping-interval; one that answers stays, one that answers nothing
// (a browser gone behind a NAT) is disconnected -ws-pong-timeout after a
// ping, on a quiet stream too, and the other stays.
func TestWebSocketKeepalive(t *testing.T) {
	const interval, timeout = 200 * time.Millisecond, 300 * time.Millisecond
	eachTransport(t, func(t *testing.T) {
		srv := startServer(t, "-ws-ping-interval", interval.String(), "-ws-pong-timeout", timeout.String())
		startStepPublisher(t, srv.url("quiet")) // metadata only: nothing flows but pings
		answering := dialWS(t, srv.http, "/live/quiet.flv")
		silent := dialWS(t, srv.http, "/live/quiet.flv")

		silentDone := make(chan error, 1)
		start := time.Now()
		go func() {
			pings := 0
			for {
				op, _, err := silent.next()
				if err != nil {
					if pings == 0 {
						err = fmt.Errorf("closed before any ping: %v", err)
					} else {
						err = nil
					}
					silentDone <- err
					return
				}
				if op == websocket.OpPing {
					pings++
				}
			}
		}()
		pings := 0
		for pings < 8 {
			op, p, err := answering.next()
			if err != nil {
				t.Fatalf("the answering player lost its connection after %d pings: %v", pings, err)
			}
			if op == websocket.OpPing {
				pings++
				if err := answering.send(websocket.OpPong, p); err != nil {
					t.Fatal(err)
				}
			}
		}
		select {
		case err := <-silentDone:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the silent player is still connected")
		}
		if el := time.Since(start); el < interval+timeout-50*time.Millisecond {
			t.Errorf("the silent player went after %v, before a ping could time out", el)
		}
		if !strings.Contains(srv.logs.String(), "websocket peer answered no ping") {
			t.Error("the log does not say why the silent player was disconnected")
		}
	})
}
