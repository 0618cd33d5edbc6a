package main

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// badCase is one misbehaving client: what it sends, the reason tokens the
// server may log when it closes the session, and how soon it must.
type badCase struct {
	name    string
	send    func(t *testing.T, c net.Conn)
	reasons []string      // accepted reason= tokens; nil: any protocol error (a WARN line)
	minWait time.Duration // the close must not come before this (timeouts)
	bound   time.Duration // ... and must come within this
	after   func(t *testing.T)
}

// TestBadInput runs every kind of bad input against one server while a
// healthy publisher and player use it: each bad connection must be closed
// within a bound with a "session closed" line naming the reason, and the
// healthy pair must not notice.
func TestBadInput(t *testing.T) { eachTransport(t, testBadInput) }

func testBadInput(t *testing.T) {
	srv := startServer(t, "-handshake-timeout", "1s", "-idle-timeout", "1s",
		"-max-chunk-size", "65536", "-max-message-size", "262144", "-publish-grace", "5s")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const live = "healthy"
	spec := synthSpec{video: "avc", audio: true, meta: true, fps: 25, gop: 25, keyBytes: 20000, frameBytes: 3000, audioBytes: 200, tag: 'H'}
	pub := startSynthPubCtx(ctx, t, srv.url(live), spec)
	player := startRecPlayer(t, srv, live, recOpts{})
	waitFor(t, 10*time.Second, "healthy player receiving", func() bool { return player.media.Load() > 25 })
	startCount, started := player.media.Load(), time.Now()

	for _, tc := range badCases(srv, live, pub, player) {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", srv.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			peer := conn.LocalAddr().String()
			start := time.Now()
			tc.send(t, conn)
			bound := tc.bound
			if bound == 0 {
				bound = 3 * time.Second
			}
			if err := readUntilClosed(conn, bound); err != nil {
				t.Fatalf("server did not close the connection: %v", err)
			}
			took := time.Since(start)
			if took < tc.minWait {
				t.Errorf("closed after %v, before the %v timeout", took, tc.minWait)
			}
			var line string
			waitFor(t, 3*time.Second, "session closed line", func() bool {
				line = closedLine(srv.logs.String(), peer)
				return line != ""
			})
			reason := fieldOf(line, "reason")
			switch {
			case tc.reasons == nil && !strings.Contains(line, "level=WARN"):
				t.Errorf("want a protocol error, got: %s", line)
			case tc.reasons != nil && !slices.Contains(tc.reasons, reason):
				t.Errorf("reason=%s, want one of %v: %s", reason, tc.reasons, line)
			}
			if tc.after != nil {
				tc.after(t)
			}
			t.Logf("closed after %v: reason=%s", took.Round(time.Millisecond), reason)
		})
	}

	// The healthy pair did not notice: the player kept receiving, in
	// order, during and after the cases; the publisher is still up.
	during := player.media.Load() - startCount
	if want := int64(time.Since(started).Seconds() * 50); during < want {
		t.Errorf("healthy player got %d media messages during the cases (%v), want at least %d", during, time.Since(started).Round(time.Millisecond), want)
	}
	mid := player.media.Load()
	waitFor(t, 3*time.Second, "healthy player still receiving after the cases", func() bool { return player.media.Load() > mid+50 })
	for _, typ := range []uint8{rtmp.TypeVideo, rtmp.TypeAudio} {
		if first, last, gaps := player.seqGaps(typ, spec.tag); gaps != 0 {
			t.Errorf("healthy player: %d gaps in type %d frames %d..%d", gaps, typ, first, last)
		}
	}
	late := startRecPlayer(t, srv, live, recOpts{})
	waitFor(t, 5*time.Second, "a new player after the cases", func() bool { return late.media.Load() > 10 })
	select {
	case <-pub.done:
		t.Fatalf("healthy publisher stopped: %v", pub.err)
	default:
	}
	cancel()
	if err := pub.wait(); err != nil {
		t.Errorf("healthy publisher: %v", err)
	}
	t.Logf("healthy player: %d media messages, %d during the bad input", player.media.Load(), during)
}

func badCases(srv *testServer, live string, pub *synthPub, player *recPlayer) []badCase {
	timeout := func(name string, reason string, send func(t *testing.T, c net.Conn)) badCase {
		return badCase{name: name, send: send, reasons: []string{reason}, minWait: 900 * time.Millisecond, bound: 4 * time.Second}
	}
	protocol := func(name, reason string, send func(t *testing.T, c net.Conn)) badCase {
		return badCase{name: name, send: send, reasons: []string{reason}}
	}
	// after handshaking, send b.
	after := func(b ...[]byte) func(t *testing.T, c net.Conn) {
		return func(t *testing.T, c net.Conn) {
			handshake(t, c)
			for _, p := range b {
				c.Write(p) // the server may close before it has read everything
			}
		}
	}
	connect := command("connect", 1, connectObject())
	return []badCase{
		protocol("http request", "handshake_version", raw([]byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"))),
		protocol("tls client hello", "handshake_version", raw(append([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}, make([]byte, 512)...))),
		protocol("rtmpe version 6", "handshake_version", raw(append([]byte{6}, make([]byte, 1536)...))),
		protocol("version 0", "handshake_version", raw(make([]byte, 1537))),
		timeout("no handshake", "handshake_timeout", raw(nil)),
		timeout("partial C1", "handshake_timeout", raw(append([]byte{3}, make([]byte, 700)...))),
		timeout("no C2", "handshake_timeout", raw(append([]byte{3}, make([]byte, 1536)...))),
		timeout("no connect after handshake", "handshake_timeout", after()),
		timeout("idle after connect", "idle_timeout", after(connect)),
		protocol("chunk size over max", "chunk_size", after(setChunkSize(1<<20))),
		protocol("chunk size zero", "chunk_size", after(setChunkSize(0))),
		protocol("chunk size top bit", "chunk_size", after(setChunkSize(0x80000001))),
		protocol("message length over max", "message_size", after(
			[]byte{0x04, 0, 0, 0, 0x04, 0x93, 0xe0, rtmp.TypeVideo, 1, 0, 0, 0})), // 300000 bytes
		protocol("message length 16 MiB", "message_size", after(
			[]byte{0x06, 0, 0, 0, 0xff, 0xff, 0xff, rtmp.TypeVideo, 1, 0, 0, 0})),
		protocol("type 1 chunk first", "no_previous_header", after([]byte{0x40 | 10, 0, 0, 0, 0, 0, 4, rtmp.TypeAudio, 1, 2, 3, 4})),
		protocol("type 2 chunk first", "no_previous_header", after([]byte{0x80 | 11, 0, 0, 40, 1, 2, 3})),
		protocol("type 3 chunk first", "no_previous_header", after([]byte{0xc0 | 12, 1, 2, 3})),
		protocol("type 3 chunk first, 2-byte csid", "no_previous_header", after([]byte{0xc0, 200, 1, 2, 3})),
		protocol("too many chunk streams", "too_many_chunk_streams", after(manyChunkStreams(65))),
		protocol("nested amf0 objects", "amf_depth", after(rawCommand(nestedAMF0(0x03, 200)))),
		protocol("nested amf0 strict arrays", "amf_depth", after(rawCommand(nestedAMF0(0x0a, 200)))),
		protocol("nested amf3 arrays", "amf_depth", after(rawMessage(rtmp.TypeCommandAMF3, nestedAMF3(200)))),
		protocol("string longer than the message", "amf", after(rawCommand(oversizedString()))),
		protocol("strict array count 2^32-1", "amf", after(rawCommand(hugeStrictArray()))),
		protocol("play before connect", "command_order", after(command("play", 0, nil, "x"))),
		protocol("publish before connect", "command_order", after(command("publish", 0, nil, "x", "live"))),
		protocol("second connect", "command_order", after(connect, command("connect", 2, connectObject()))),
		protocol("publish while playing", "command_order", func(t *testing.T, c net.Conn) {
			cl := rtmp.NewClient(c, "live", "badplay", "rtmp://"+srv.addr+"/live")
			if err := cl.Connect(); err != nil {
				t.Fatal(err)
			}
			if err := cl.Play(); err != nil {
				t.Fatal(err)
			}
			body, _ := rtmp.AppendCommandMessage(nil, "publish", 0, nil, "badplay", "live")
			c.Write(rtmp.AppendMessage(nil, &rtmp.Message{Type: rtmp.TypeCommandAMF0, CSID: rtmp.CSIDData, StreamID: 1, Payload: body}, 4096))
		}),
		{name: "publish to a live name", reasons: []string{"publish_refused"},
			send: func(t *testing.T, c net.Conn) {
				cl := rtmp.NewClient(c, "live", live, "rtmp://"+srv.addr+"/live")
				if err := cl.Connect(); err != nil {
					t.Fatal(err)
				}
				err := cl.Publish()
				if err == nil || !strings.Contains(err.Error(), rtmp.CodePublishBadName) {
					t.Errorf("second publisher of a live name: %v, want %s", err, rtmp.CodePublishBadName)
				}
			},
			after: func(t *testing.T) {
				n := player.media.Load()
				waitFor(t, 3*time.Second, "the first publisher's player still receiving", func() bool { return player.media.Load() > n+20 })
				select {
				case <-pub.done:
					t.Errorf("first publisher stopped: %v", pub.err)
				default:
				}
			}},
		{name: "garbage after handshake", send: after(garbage(4096))},
	}
}

// raw sends b as the very first bytes, without a handshake.
func raw(b []byte) func(t *testing.T, c net.Conn) {
	return func(t *testing.T, c net.Conn) {
		if len(b) > 0 {
			c.Write(b)
		}
	}
}

func handshake(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if err := rtmp.ClientHandshake(c); err != nil {
		t.Fatalf("handshake: %v", err)
	}
}

func connectObject() rtmp.Object {
	return rtmp.Object{{Key: "app", Value: "live"}, {Key: "tcUrl", Value: "rtmp://127.0.0.1/live"}}
}

// rawMessage chunks a message at the default chunk size, which is what the
// server reads with until the client sets another.
func rawMessage(typ uint8, payload []byte) []byte {
	csid := rtmp.CSIDCommand
	if typ == rtmp.TypeSetChunkSize {
		csid = rtmp.CSIDControl
	}
	return rtmp.AppendMessage(nil, &rtmp.Message{Type: typ, CSID: csid, Payload: payload}, rtmp.DefaultChunkSize)
}

func rawCommand(body []byte) []byte { return rawMessage(rtmp.TypeCommandAMF0, body) }

func command(name string, tx float64, vals ...any) []byte {
	body, err := rtmp.AppendCommandMessage(nil, name, tx, vals...)
	if err != nil {
		panic(err)
	}
	return rawCommand(body)
}

func setChunkSize(n uint32) []byte {
	return rawMessage(rtmp.TypeSetChunkSize, binary.BigEndian.AppendUint32(nil, n))
}

// commandPrefix is "connect", 1 in AMF0: a body whose third value is bad.
func commandPrefix() []byte {
	b, _ := rtmp.AppendAMF0(nil, "connect", 1.0)
	return b
}

// nestedAMF0 nests depth objects (marker 0x03, each the value of key "a")
// or strict arrays of one element (0x0a), never closed.
func nestedAMF0(marker byte, depth int) []byte {
	b := commandPrefix()
	for range depth {
		if marker == 0x03 {
			b = append(b, 0x03, 0x00, 0x01, 'a')
		} else {
			b = append(b, 0x0a, 0, 0, 0, 1)
		}
	}
	return append(b, 0x05)
}

// nestedAMF3 is an AMF3 command (format byte 0) whose object switches to
// AMF3 and nests arrays of one dense element.
func nestedAMF3(depth int) []byte {
	b := append([]byte{0}, commandPrefix()...)
	b = append(b, 0x11)
	for range depth {
		b = append(b, 0x09, 0x03, 0x01) // array, 1 dense element, no associative part
	}
	return append(b, 0x01) // null
}

// oversizedString claims a 60000-byte string in a short message.
func oversizedString() []byte {
	b := commandPrefix()
	b = append(b, 0x02, 0xea, 0x60)
	return append(b, "only a few bytes"...)
}

func hugeStrictArray() []byte {
	return append(commandPrefix(), 0x0a, 0xff, 0xff, 0xff, 0xff, 0x05)
}

// manyChunkStreams opens n chunk streams (ids 64 and up, two-byte basic
// headers), each with an empty audio message.
func manyChunkStreams(n int) []byte {
	var b []byte
	for i := range n {
		b = append(b, 0x00, byte(i), 0, 0, 0, 0, 0, 0, rtmp.TypeAudio, 1, 0, 0, 0)
	}
	return b
}

// garbage is the same pseudo-random bytes on every run.
func garbage(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// closedLine is the "session closed" log line of the session at peer.
func closedLine(logs, peer string) string {
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `msg="session closed"`) && strings.Contains(line, " peer="+peer+" ") {
			return line
		}
	}
	return ""
}

// fieldOf returns the value of key=value in a text log line.
func fieldOf(line, key string) string {
	_, v, ok := strings.Cut(line, " "+key+"=")
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, " ")
	return v
}
