package relay

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/rtmp"
)

// testOrigin is a real bbllive RTMP server (hub + netpoll transport) on a
// loopback port.
type testOrigin struct {
	addr   string
	scheme string // rtmp or rtmps
	srv    *rtmp.Server
	hub    *fanout.Hub
}

func startOrigin(t *testing.T) *testOrigin {
	t.Helper()
	o, err := tryOriginOn(t, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// tryOriginOn starts an origin listening on addr.
func tryOriginOn(t *testing.T, addr string) (*testOrigin, error) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return originOn(t, ln), nil
}

// originOn starts an origin serving ln.
func originOn(t *testing.T, ln net.Listener) *testOrigin {
	t.Helper()
	cfg := fanout.Config{Flush: fanout.FlushMessage}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := fanout.NewHub(cfg, fanout.NewNetpoll(cfg), log)
	srv := &rtmp.Server{Handler: hub, Logger: log, ChunkSize: rtmp.DefaultServerChunkSize}
	o := &testOrigin{addr: ln.Addr().String(), srv: srv, hub: hub, scheme: "rtmp"}
	go srv.Serve(ln)
	t.Cleanup(o.stop)
	return o
}

func (o *testOrigin) stop() { o.srv.Close(); o.hub.Close() }

// publish pushes a synthetic H.264 stream to key on the origin until the
// test ends; every frame's last byte is tag, so a sink can tell which origin
// a frame came through.
func (o *testOrigin) publish(t *testing.T, key string, tag byte) {
	o.publishWith(t, &rtmp.Dialer{}, key, tag)
}

func (o *testOrigin) publishWith(t *testing.T, d *rtmp.Dialer, key string, tag byte) {
	t.Helper()
	startPublisher(t, d, o.scheme+"://"+o.addr+"/"+key, tag)
}

// recordingSink passes the tag of every video frame it receives to a
// channel, dropping when nobody reads.
type recordingSink chan byte

func (s recordingSink) WriteMessage(m *rtmp.Message) error {
	if m.Type == rtmp.TypeVideo && len(m.Payload) > 5 && m.Payload[1] == 1 {
		select {
		case s <- m.Payload[len(m.Payload)-1]:
		default:
		}
	}
	return nil
}

// waitTag waits up to within for a frame tagged tag.
func waitTag(t *testing.T, s recordingSink, tag byte, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case got := <-s:
			if got == tag {
				return
			}
		case <-deadline:
			t.Fatalf("no frame from origin %d within %s", tag, within)
		}
	}
}

// behindTLS puts a TLS terminator in front of o, as users put stunnel or
// an nginx stream block in front of an RTMP server, and returns o as seen
// through it (rtmps://).
func behindTLS(t *testing.T, o *testOrigin, cfg *tls.Config) *testOrigin {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", o.addr)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	return &testOrigin{addr: ln.Addr().String(), scheme: "rtmps", srv: o.srv, hub: o.hub}
}

// silentTarget is a TCP listener that accepts every connection and never
// sends a byte (a host whose RTMP server hangs); closed counts the
// connections the client side gave up on.
type silentTarget struct {
	addr     string
	accepted atomic.Int64
	closed   atomic.Int64
}

func startSilent(t *testing.T) *silentTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentTarget{addr: ln.Addr().String()}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			conns.Add(1)
			go func() { // read (and drop) until the client closes
				defer conns.Done()
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				io.Copy(io.Discard, c)
				s.closed.Add(1)
			}()
		}
	}()
	return s
}

// fullBacklog is an address whose listener never accepts and whose accept
// queue is full, so that a new connect's SYN is dropped and the connect
// hangs (a blackholed address), or "" with the reason when the kernel
// completes it anyway.
func fullBacklog(t *testing.T) (addr, why string) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr = fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 8 { // fill the accept queue (backlog 0 holds one or two)
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr, "" // this connect hung: the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	return "", "the kernel completed 8 connects to a listener with backlog 0 that never accepts"
}

// keyOwnedBy is a stream key whose first origin in set's ranking is addr.
func keyOwnedBy(t *testing.T, set *Set, addr string) string {
	t.Helper()
	for i := range 1000 {
		key := fmt.Sprintf("live/k%d", i)
		if set.Rank(key)[0].Addr == addr {
			return key
		}
	}
	t.Fatalf("no key of 1000 ranks %s first", addr)
	return ""
}

// setOf is the Set of the addresses.
func setOf(t *testing.T, addrs ...string) *Set {
	t.Helper()
	entries, err := ParseList(strings.Join(addrs, ","))
	if err != nil {
		t.Fatal(err)
	}
	set := NewSet(entries, nil)
	if _, err := set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return set
}

// dialPlayer connects to key on addr and plays it; the connection closes
// when the test ends.
func dialPlayer(t *testing.T, addr, key string) *rtmp.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rtmp.Dial(ctx, "rtmp://"+addr+"/"+key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Play(); err != nil {
		t.Fatal(err)
	}
	return c
}

// statusPlayer is an RTMP player that counts video frames and passes on
// the code of every onStatus it gets.
type statusPlayer struct {
	*player
	codes chan string
}

func startStatusPlayer(t *testing.T, addr, key string) *statusPlayer {
	t.Helper()
	c := dialPlayer(t, addr, key)
	p := &statusPlayer{player: &player{c: c, done: make(chan struct{})}, codes: make(chan string, 16)}
	go func() {
		defer close(p.done)
		for {
			m, err := c.ReadMessage()
			if err != nil {
				p.err.Store(&err)
				return
			}
			if m.Type == rtmp.TypeVideo && len(m.Payload) > 1 && m.Payload[1] == 1 {
				p.frames.Add(1)
				p.last.Store(time.Now().UnixNano())
			}
			if code := statusCode(m); code != "" {
				select {
				case p.codes <- code:
				default:
				}
			}
		}
	}()
	return p
}

// waitCode waits up to within for the status code; it reports how long
// it took.
func (p *statusPlayer) waitCode(t *testing.T, code string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(within)
	for {
		select {
		case got := <-p.codes:
			if got == code {
				return time.Since(start)
			}
		case <-deadline:
			t.Fatalf("no %s within %s", code, within)
		}
	}
}

// noCode fails if the player gets code within d.
func (p *statusPlayer) noCode(t *testing.T, code string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case got := <-p.codes:
			if got == code {
				t.Fatalf("got %s", code)
			}
		case <-deadline:
			return
		}
	}
}

// localPublisher publishes a synthetic H.264 stream with the rtmp client
// and ends it on purpose (unpublish) or by dropping the connection (drop).
type localPublisher struct {
	c    *rtmp.Client
	stop chan struct{}
	done chan struct{}
}

func startLocalPublisher(t *testing.T, addr, key string, tag byte) *localPublisher {
	t.Helper()
	return startPublisher(t, &rtmp.Dialer{}, "rtmp://"+addr+"/"+key, tag)
}

// startPublisher publishes url with d until the test ends or it is told
// to stop; every frame's last byte is tag.
func startPublisher(t *testing.T, d *rtmp.Dialer, url string, tag byte) *localPublisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(); err != nil {
		t.Fatal(err)
	}
	lp := &localPublisher{c: c, stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { lp.drop() })
	go func() {
		defer close(lp.done)
		go discard(c)
		c.WriteMessage(&rtmp.Message{Type: rtmp.TypeVideo, Payload: []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f}})
		for i := uint32(0); ; i++ {
			key := byte(0x27)
			if i%25 == 0 {
				key = 0x17
			}
			m := &rtmp.Message{Type: rtmp.TypeVideo, Timestamp: i * 40, Payload: []byte{key, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, tag}}
			if c.WriteMessage(m) != nil || c.Flush() != nil {
				return
			}
			select {
			case <-lp.stop:
				return
			case <-time.After(40 * time.Millisecond):
			}
		}
	}()
	return lp
}

// unpublish stops the media and unpublishes cleanly, as an encoder's stop.
func (lp *localPublisher) unpublish(t *testing.T) {
	t.Helper()
	lp.halt()
	if err := lp.c.Unpublish(); err != nil {
		t.Fatal(err)
	}
}

// drop stops the media and closes the connection without a word.
func (lp *localPublisher) drop() {
	lp.halt()
	lp.c.Close()
}

func (lp *localPublisher) halt() {
	select {
	case <-lp.stop:
	default:
		close(lp.stop)
	}
	<-lp.done
}
