package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// The floor is what delivering a stream costs when user space does nothing
// but write: every message is chunked once into a shared buffer, and one
// goroutine writes that buffer to every player with a plain write call per
// player per flush. It speaks just enough RTMP (through rtmp.Server) for
// the same publisher and load generator to drive it as they drive
// `bbllive serve`, so the server's cost is compared with the floor's in
// the same run rather than with a figure measured elsewhere.

// Defaults of FloorConfig.
const (
	DefaultFloorChunkSize    = 4096
	DefaultFloorWriteTimeout = 2 * time.Second
	DefaultFloorMaxPending   = 8 << 20
)

// FloorConfig configures the floor server.
type FloorConfig struct {
	// Listener accepts the RTMP connections. Required; RunFloor closes it.
	Listener net.Listener
	// Interval is the flush period; 0 writes after every message.
	Interval time.Duration
	// ChunkSize is the outbound chunk size, 128..16 MiB (default 4096, the
	// server's default).
	ChunkSize uint32
	// WriteTimeout bounds how long one player's write may block the single
	// writer before that player is dropped (default 2 s).
	WriteTimeout time.Duration
	// MaxPending bounds the bytes a stream holds between two flushes; past
	// it they are thrown away, whole messages at a time (default 8 MiB).
	MaxPending int
	// Logger receives the start line (with rtmp=ADDR), drops and the end.
	Logger *slog.Logger
}

func (c *FloorConfig) withDefaults() error {
	if c.Listener == nil {
		return errors.New("bench: floor: no listener")
	}
	if c.Interval < 0 {
		return fmt.Errorf("bench: floor: negative interval %v", c.Interval)
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultFloorChunkSize
	}
	if c.ChunkSize < 128 || c.ChunkSize > 1<<24 {
		return fmt.Errorf("bench: floor: chunk size %d out of range (128..16777216)", c.ChunkSize)
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultFloorWriteTimeout
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultFloorMaxPending
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// RunFloor serves until ctx ends, then closes everything and returns.
func RunFloor(ctx context.Context, cfg FloorConfig) error {
	f, err := newFloor(cfg)
	if err != nil {
		if cfg.Listener != nil {
			cfg.Listener.Close()
		}
		return err
	}
	return f.run(ctx)
}

// errFloorBusy refuses a second publisher of a stream.
var errFloorBusy = errors.New("stream is already being published")

// floor is the server: an rtmp.Handler and its one writer.
type floor struct {
	cfg  FloorConfig
	log  *slog.Logger
	srv  *rtmp.Server
	wake chan struct{}

	mu      sync.Mutex
	streams map[string]*floorStream
	list    []*floorStream // the same streams, for the writer to copy

	// The writer's own, reused on every flush so that a flush allocates
	// nothing in steady state.
	snapStreams []*floorStream
	snapPlayers []*floorPlayer
	stats       floorStats
}

// floorStats are the writer's counts, logged at the end.
type floorStats struct {
	flushes, writes, bytes, dropped uint64
}

func newFloor(cfg FloorConfig) (*floor, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	f := &floor{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), streams: map[string]*floorStream{}}
	f.srv = &rtmp.Server{Handler: f, Logger: cfg.Logger, ChunkSize: cfg.ChunkSize}
	return f, nil
}

func (f *floor) flushName() string {
	if f.cfg.Interval == 0 {
		return "message"
	}
	return "interval"
}

// run serves until ctx ends or the listener fails.
func (f *floor) run(ctx context.Context) error {
	l := f.cfg.Listener
	f.log.Info("floor listening", "rtmp", l.Addr().String(), "flush", f.flushName(),
		"flush_interval", f.cfg.Interval, "chunk_size", f.cfg.ChunkSize, "write_timeout", f.cfg.WriteTimeout)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		f.writer(stop)
	}()
	errc := make(chan error, 1)
	go func() { errc <- f.srv.Serve(l) }()
	var err error
	select {
	case <-ctx.Done():
		f.log.Info("shutting down", "sessions", f.srv.SessionCount())
	case err = <-errc:
	}
	// Closing the sessions first fails any write the writer is blocked in.
	f.srv.Close()
	l.Close() // Serve may not have registered it yet
	close(stop)
	<-done
	if err == nil {
		err = <-errc
	}
	if errors.Is(err, rtmp.ErrServerClosed) {
		err = nil
	}
	f.log.Info("stopped", "flushes", f.stats.flushes, "writes", f.stats.writes,
		"bytes", f.stats.bytes, "players_dropped", f.stats.dropped)
	return err
}

// floorStream is one app/name: the bytes chunked since the last flush, what
// a joining player gets first, and the players.
type floorStream struct {
	key string

	mu         sync.Mutex
	pending    []byte // chunked messages not yet written
	videoSeq   kept
	audioSeq   kept
	meta       kept
	prefix     []byte // meta, video and audio sequence headers, chunked; replaced, never modified
	players    []*floorPlayer
	publishing bool

	back []byte // the writer's: the buffer written at the last flush, pending's next
}

// kept is a message every joining player must get first.
type kept struct {
	payload []byte // to tell a repeated header from a new one
	chunked []byte
}

// players counts the stream's players (tests).
func (f *floor) players(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[key]
	if st == nil {
		return 0
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.players)
}

// stream returns key's stream, creating it; f.mu is held.
func (f *floor) stream(key string) *floorStream {
	st := f.streams[key]
	if st == nil {
		st = &floorStream{key: key}
		f.streams[key] = st
		f.list = append(f.list, st)
	}
	return st
}

// release forgets a stream nobody publishes or plays, so that the map
// stays as small as what is live; f.mu and st.mu are held.
func (f *floor) release(st *floorStream) {
	if st.publishing || len(st.players) > 0 {
		return
	}
	delete(f.streams, st.key)
	for i, s := range f.list {
		if s == st {
			f.list = append(f.list[:i], f.list[i+1:]...)
			break
		}
	}
}

// Publish implements rtmp.Handler.
func (f *floor) Publish(s *rtmp.Session) (rtmp.Publisher, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.stream(s.Key())
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.publishing {
		return nil, errFloorBusy
	}
	st.publishing = true
	return &floorPublisher{f: f, st: st}, nil
}

// Play implements rtmp.Handler. A stream without a publisher yet keeps
// the player waiting: it gets bytes once they come.
func (f *floor) Play(s *rtmp.Session) (rtmp.Player, error) {
	p := &floorPlayer{f: f, sess: s, conn: s.Conn()}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.stream(s.Key())
	p.st = st
	st.mu.Lock()
	st.players = append(st.players, p)
	st.mu.Unlock()
	return p, nil
}

// floorPublisher is a publishing session's handle on its stream.
type floorPublisher struct {
	f      *floor
	st     *floorStream
	closed bool // only the session goroutine calls WriteMessage and Close
}

// WriteMessage chunks m once into the stream's pending bytes.
func (p *floorPublisher) WriteMessage(m *rtmp.Message) error {
	if p.closed {
		return nil
	}
	out := rtmp.Message{Type: m.Type, StreamID: rtmp.MediaStreamID, Timestamp: m.Timestamp, Payload: m.Payload}
	var keep *kept
	switch m.Type {
	case rtmp.TypeVideo:
		out.CSID = rtmp.CSIDVideo
		if rtmp.IsVideoSequenceHeader(m.Payload) {
			keep = &p.st.videoSeq
		}
	case rtmp.TypeAudio:
		out.CSID = rtmp.CSIDAudio
		if rtmp.IsAudioSequenceHeader(m.Payload) {
			keep = &p.st.audioSeq
		}
	case rtmp.TypeDataAMF0:
		out.CSID = rtmp.CSIDData
		// Players get onMetaData without the publisher's @setDataFrame,
		// as from `bbllive serve`.
		if meta, ok := rtmp.MetadataPayload(m.Payload); ok {
			out.Payload = meta
			keep = &p.st.meta
		}
	default:
		return nil
	}
	if n := p.st.add(&out, keep, p.f.cfg.ChunkSize, p.f.cfg.MaxPending); n > 0 {
		p.f.log.Warn("pending bytes over the cap were dropped", "stream", p.st.key, "bytes", n, "cap", p.f.cfg.MaxPending)
	}
	if p.f.cfg.Interval == 0 {
		// Per-message flush: wake the writer without ever waiting for it.
		// The channel holds one wake-up, so the messages that arrive while
		// the writer is busy are all written by its next flush — batched
		// only as much as the writer is behind.
		select {
		case p.f.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// add appends m, chunked, to the pending bytes and, when keep is set,
// remembers it for joining players. It returns how many pending bytes it
// threw away to stay under maxPending (the writer is stuck).
func (st *floorStream) add(m *rtmp.Message, keep *kept, chunkSize uint32, maxPending int) (dropped int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.pending) > 0 && len(st.pending)+rtmp.ChunkedLen(m, chunkSize) > maxPending {
		// Whole messages go, each with a full header: what players get
		// next still parses, with a gap.
		dropped = len(st.pending)
		st.pending = nil
	}
	st.pending = rtmp.AppendMessage(st.pending, m, chunkSize)
	if keep != nil && !bytes.Equal(keep.payload, m.Payload) {
		keep.payload = append([]byte(nil), m.Payload...)
		keep.chunked = rtmp.AppendMessage(nil, m, chunkSize)
		st.rebuildPrefix()
	}
	return dropped
}

// rebuildPrefix makes a new prefix: the writer may be writing the old one.
func (st *floorStream) rebuildPrefix() {
	var b []byte
	for _, k := range []*kept{&st.meta, &st.videoSeq, &st.audioSeq} {
		b = append(b, k.chunked...)
	}
	st.prefix = b
}

// Close ends the publication; the players stay, waiting for the next
// publisher, and the sequence headers go with this one.
func (p *floorPublisher) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	f, st := p.f, p.st
	f.mu.Lock()
	defer f.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.publishing = false
	st.videoSeq, st.audioSeq, st.meta, st.prefix = kept{}, kept{}, kept{}, nil
	f.release(st)
	return nil
}

// floorPlayer is a playing session: its connection and where it stands.
type floorPlayer struct {
	f    *floor
	st   *floorStream
	sess *rtmp.Session
	conn net.Conn
	gone atomic.Bool

	// The writer's own.
	joined     bool      // got the prefix
	deadlineAt time.Time // when the write deadline was last moved
}

// Close implements rtmp.Player: the session ended or stopped playing.
func (p *floorPlayer) Close() error {
	p.remove()
	return nil
}

func (p *floorPlayer) remove() {
	if p.gone.Swap(true) {
		return
	}
	f, st := p.f, p.st
	f.mu.Lock()
	defer f.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, q := range st.players {
		if q == p {
			last := len(st.players) - 1
			st.players[i] = st.players[last]
			st.players[last] = nil
			st.players = st.players[:last]
			break
		}
	}
	f.release(st)
}

// writer is the one goroutine that writes to players: on every wake-up
// (per-message flush) or tick (interval flush) it writes each stream's
// pending bytes to each of its players.
func (f *floor) writer(stop <-chan struct{}) {
	var tick <-chan time.Time
	if f.cfg.Interval > 0 {
		t := time.NewTicker(f.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-stop:
			return
		case <-f.wake:
		case <-tick:
		}
		f.flush()
	}
}

func (f *floor) flush() {
	f.stats.flushes++
	f.mu.Lock()
	f.snapStreams = append(f.snapStreams[:0], f.list...)
	f.mu.Unlock()
	for _, st := range f.snapStreams {
		f.flushStream(st)
	}
	clear(f.snapStreams) // hold no stream beyond its life
}

// flushStream swaps the stream's pending bytes with the buffer written last
// time (a double buffer: no allocation in steady state) and writes them to
// every player with one write each.
func (f *floor) flushStream(st *floorStream) {
	st.mu.Lock()
	batch := st.pending
	st.pending = st.back[:0]
	prefix := st.prefix
	f.snapPlayers = append(f.snapPlayers[:0], st.players...)
	st.mu.Unlock()
	st.back = batch
	if cap(batch) > f.cfg.MaxPending {
		st.back = nil // a burst's buffer is not kept for good
	}
	for _, p := range f.snapPlayers {
		if p.gone.Load() {
			continue
		}
		if !p.joined {
			if len(batch) == 0 && len(prefix) == 0 {
				continue // nothing to start with yet
			}
			// The prefix goes once, before the player's first batch; it
			// may start mid-GOP, which the byte-counting load generator
			// does not mind.
			p.joined = true
			if len(prefix) > 0 && !f.write(p, prefix) {
				continue
			}
		}
		if len(batch) > 0 {
			f.write(p, batch)
		}
	}
	clear(f.snapPlayers)
}

// write writes b to p; on failure p is dropped. The write deadline is moved
// only once per half WriteTimeout, so a write blocks at most between half
// and all of WriteTimeout and a healthy player costs no timer update per
// write.
func (f *floor) write(p *floorPlayer, b []byte) bool {
	now := time.Now()
	if now.Sub(p.deadlineAt) > f.cfg.WriteTimeout/2 {
		p.conn.SetWriteDeadline(now.Add(f.cfg.WriteTimeout))
		p.deadlineAt = now
	}
	n, err := p.conn.Write(b)
	f.stats.writes++
	f.stats.bytes += uint64(n)
	if err != nil {
		f.drop(p, err)
		return false
	}
	return true
}

// drop ends a player whose write failed or timed out; its session then
// ends on its own, having read from a closed connection.
func (f *floor) drop(p *floorPlayer, err error) {
	if p.gone.Load() {
		return
	}
	reason := "write_error"
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		reason = "slow"
	}
	f.stats.dropped++
	p.sess.CloseReason(reason)
	p.sess.Logger().Info("player dropped", "reason", reason, "err", err)
	p.conn.Close()
	p.remove()
}
