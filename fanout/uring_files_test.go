package fanout

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbllive/bbllive/rtmp"
	"github.com/bbllive/bbllive/uring"
	"golang.org/x/sys/unix"
)

// newUringHub starts a hub on a one-worker io_uring transport, so every
// connection lands on the same ring and its slots are predictable.
func newUringHub(t *testing.T, cfg Config, mode SendMode) (*Hub, *Uring) {
	t.Helper()
	if err := uring.Available(); err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	cfg.Workers = 1
	tr, err := NewUring(cfg, UringOptions{Mode: mode, RegisteredBytes: 8 << 20, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("NewUring: %v", err)
	}
	h := NewHub(cfg, tr, testLogger(t))
	t.Cleanup(func() { h.Close() })
	return h, tr
}

// attachPlayer attaches the server end of a loopback connection as a player
// of s and returns the player, the server end's socket inode and the client
// end.
func attachPlayer(t *testing.T, h *Hub, s *Stream) (*Player, uint64, net.Conn) {
	t.Helper()
	client, server := loopbackPair(t, 0)
	ino := connInode(t, server)
	p := &Player{conn: server, waiting: true, joined: time.Now()}
	if err := s.addPlayer(p, testRTMP); err != nil {
		t.Fatal(err)
	}
	if err := h.transport.Add(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, ino, client
}

func connInode(t *testing.T, c net.Conn) uint64 {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil || serr != nil {
		t.Fatalf("fstat: %v %v", err, serr)
	}
	return st.Ino
}

// socketAlive reports whether the TCP socket with inode ino still has its
// file: once the last reference goes the kernel closes it (tcp_close
// orphans it: /proc/net/tcp then shows inode 0, or no entry).
func socketAlive(t *testing.T, ino uint64) bool {
	t.Helper()
	want := strconv.FormatUint(ino, 10)
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 9 && f[9] == want {
				return true
			}
		}
	}
	return false
}

var fixedEntry = regexp.MustCompile(`(?m)^\s*(\d+): socket:\[(\d+)\]$`)

// fixedSockets reads the worker ring's fixed-file table from /proc: socket
// inode by slot. The kernel lists the table only when it can take the
// ring's lock at once, so the caller retries through eventually.
func fixedSockets(t *testing.T, w *uringWorker) (map[int]uint64, bool) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", w.ring.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("UserFiles:")) {
		return nil, false
	}
	out := map[int]uint64{}
	for _, m := range fixedEntry.FindAllSubmatch(b, -1) {
		slot, _ := strconv.Atoi(string(m[1]))
		ino, _ := strconv.ParseUint(string(m[2]), 10, 64)
		out[slot] = ino
	}
	return out, true
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// registeredAs waits until the worker's fixed-file table holds exactly the
// given slot→inode entries.
func registeredAs(t *testing.T, w *uringWorker, want map[int]uint64) {
	t.Helper()
	var got map[int]uint64
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		m, ok := fixedSockets(t, w)
		if !ok {
			continue
		}
		if got = m; maps.Equal(m, want) {
			return
		}
	}
	t.Fatalf("fixed-file table (slot: socket inode) is %v, want %v", got, want)
}

// TestUringFixedFileSlotReuse: a player's socket is registered in its
// worker's fixed-file table while it plays; when it goes, its slot is
// emptied and the socket really closes (the table must not keep it alive),
// and the next player reuses the slot.
func TestUringFixedFileSlotReuse(t *testing.T) {
	cfg := Config{Flush: FlushMessage, SlowTimeout: time.Minute}
	h, tr := newUringHub(t, cfg, SendWritev)
	w := tr.workers[0]
	if w.files == 0 {
		t.Fatal("the worker has no fixed-file table on this kernel")
	}
	s := publishTo(t, h, "live/files")
	ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
	ingest(t, s, rtmp.TypeVideo, 0, frame(true, 3000))

	_, inoA, clientA := attachPlayer(t, h, s)
	registeredAs(t, w, map[int]uint64{0: inoA})
	_, inoB, clientB := attachPlayer(t, h, s)
	registeredAs(t, w, map[int]uint64{0: inoA, 1: inoB})
	for _, c := range []net.Conn{clientA, clientB} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 3000)); err != nil {
			t.Fatalf("player got no media through its fixed file: %v", err)
		}
	}

	// A leaves: its slot empties and its socket closes.
	clientA.Close()
	registeredAs(t, w, map[int]uint64{1: inoB})
	eventually(t, "A's server socket is closed", func() bool { return !socketAlive(t, inoA) })

	// C takes A's slot.
	_, inoC, clientC := attachPlayer(t, h, s)
	registeredAs(t, w, map[int]uint64{0: inoC, 1: inoB})
	ingest(t, s, rtmp.TypeVideo, 40, frame(false, 2000))
	clientC.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(clientC, make([]byte, 3000)); err != nil {
		t.Fatalf("player on a reused slot got nothing: %v", err)
	}

	// The server closing every connection empties the table and closes
	// the sockets.
	h.Close()
	if !socketAlive(t, inoB) && !socketAlive(t, inoC) {
		return
	}
	eventually(t, "the server's sockets are closed after Close", func() bool {
		return !socketAlive(t, inoB) && !socketAlive(t, inoC)
	})
}

// TestUringFixedFileExhaustion: players beyond the fixed-file table use
// their plain descriptors and get the same bytes; none is refused.
func TestUringFixedFileExhaustion(t *testing.T) {
	defer func(n int) { maxFixedFiles = n }(maxFixedFiles)
	maxFixedFiles = minFixedFiles
	cfg := Config{Flush: FlushMessage, SlowTimeout: time.Minute}
	h, tr := newUringHub(t, cfg, SendWritev)
	w := tr.workers[0]
	if w.files != minFixedFiles {
		t.Fatalf("table of %d slots, want %d", w.files, minFixedFiles)
	}
	s := publishTo(t, h, "live/many")
	ingest(t, s, rtmp.TypeVideo, 0, avcSeq())

	const players = minFixedFiles + 4
	clients := make([]net.Conn, players)
	inodes := map[int]uint64{}
	for i := range clients {
		var ino uint64
		_, ino, clients[i] = attachPlayer(t, h, s)
		if i < minFixedFiles {
			inodes[i] = ino
		}
	}
	registeredAs(t, w, inodes)

	for i := range 5 {
		ingest(t, s, rtmp.TypeVideo, uint32(i*40), frame(i == 0, 7000))
	}
	got := readAllOf(t, clients, 5*7000)
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Errorf("player %d got %d bytes that differ from player 0's %d", i, len(got[i]), len(got[0]))
		}
	}
}

// readAllOf reads at least n bytes from each client, then whatever else
// arrives within a short quiet period, concurrently.
func readAllOf(t *testing.T, clients []net.Conn, n int) [][]byte {
	t.Helper()
	return startReaders(clients, n)(t)
}

// startReaders reads each client concurrently until it has at least n
// bytes and then goes quiet; the returned function waits for them.
func startReaders(clients []net.Conn, n int) func(t *testing.T) [][]byte {
	out := make([][]byte, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				k, err := c.Read(buf)
				out[i] = append(out[i], buf[:k]...)
				if err != nil {
					return
				}
				if len(out[i]) >= n {
					c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				}
			}
		}()
	}
	return func(t *testing.T) [][]byte {
		t.Helper()
		wg.Wait()
		for i, b := range out {
			if len(b) < n {
				t.Fatalf("client %d got %d bytes, want at least %d", i, len(b), n)
			}
		}
		return out
	}
}

// TestUringSendAndWritevBytesIdentical publishes at per-message flush
// messages sized so that most writes are one contiguous piece of the wire
// log (SEND) and some cross a block boundary or carry the join prefix
// (WRITEV). Every player must receive exactly the bytes a netpoll player
// receives for the same input — which is the stream's own serialization —
// and both operations must have been used.
func TestUringSendAndWritevBytesIdentical(t *testing.T) {
	const messages = 60 // 60 × ~5.5 KB ≈ 5 blocks: several writes wrap
	run := func(t *testing.T, tr Transport) [][]byte {
		cfg := Config{Flush: FlushMessage, SlowTimeout: time.Minute, Workers: 1}
		h := NewHub(cfg, tr, testLogger(t))
		defer h.Close()
		s := publishTo(t, h, "live/ops")
		players := make([]*Player, 3)
		clients := make([]net.Conn, len(players))
		for i := range clients {
			players[i], _, clients[i] = attachPlayer(t, h, s)
		}
		time.Sleep(20 * time.Millisecond) // all waiting for the first keyframe
		total := 0
		for i := range messages {
			total += 5000 + 97*i
		}
		wait := startReaders(clients, total)
		ingest(t, s, rtmp.TypeVideo, 0, avcSeq())
		for i := range messages {
			// One write per message: each goes out before the next comes.
			before := players[0].BytesSent.Load()
			ingest(t, s, rtmp.TypeVideo, uint32(i*40), frame(i%20 == 0, 5000+97*i))
			eventually(t, fmt.Sprintf("message %d written to every player", i), func() bool {
				for _, p := range players {
					if p.BytesSent.Load() <= before {
						return false
					}
				}
				return true
			})
		}
		return wait(t)
	}
	np := run(t, NewNetpoll(Config{Flush: FlushMessage, Workers: 1}))
	for i := range np {
		if !bytes.Equal(np[i], np[0]) {
			t.Fatalf("netpoll players disagree: %d vs %d bytes", len(np[i]), len(np[0]))
		}
	}
	if got := len(readAll(t, np[0])); got < messages {
		t.Fatalf("netpoll reference holds %d messages, want at least %d", got, messages)
	}

	if err := uring.Available(); err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	tr, err := NewUring(Config{Flush: FlushMessage, Workers: 1}, UringOptions{Mode: SendWritev, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ur := run(t, tr)
	tr.Close() // the worker has stopped: its counters may be read
	w := tr.workers[0]
	t.Logf("uring: %d SENDs, %d WRITEVs", w.sends, w.writevs)
	if w.sends == 0 || w.writevs == 0 {
		t.Errorf("the test did not exercise both operations: %d SENDs, %d WRITEVs", w.sends, w.writevs)
	}
	for i := range ur {
		if !bytes.Equal(ur[i], np[0]) {
			n := 0
			for n < len(ur[i]) && n < len(np[0]) && ur[i][n] == np[0][n] {
				n++
			}
			t.Errorf("uring player %d: %d bytes, netpoll %d; first difference at %d", i, len(ur[i]), len(np[0]), n)
		}
	}
}
