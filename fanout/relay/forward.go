package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/rtmp"
)

// DefaultForwardTimeout bounds a forward's connection to its target up to
// the publish's acceptance: far longer than any answering ingest needs
// over the internet (a few round trips plus TLS), short enough that a dead
// one is given up and retried in seconds.
const DefaultForwardTimeout = 5 * time.Second

// Forwarder pushes one published stream to a target (another bbllive, a
// CDN ingest, a platform), reconnecting with backoff. It never holds up
// the local stream: WriteMessage only copies into a bounded queue, and a
// target that cannot keep up loses whole GOPs, never the local players'
// media.
type Forwarder struct {
	// URL is the target, rtmp:// or rtmps://host/app/name[?query].
	URL string
	// Stream is the local stream's key, for the logs (which show the
	// target redacted).
	Stream string
	// Next, when set, picks each connection's target instead of URL: it
	// gets the URL whose connection just failed ("" at first), so an edge
	// moves a publish to the next origin of the stream's ranking.
	Next func(failed string) string
	// QueueBytes bounds what waits for the target (default 8 MiB).
	QueueBytes int
	// MinBackoff and MaxBackoff bound the wait between reconnects
	// (defaults 1 s and 30 s); it doubles after each failed attempt and
	// resets once a connection has carried media.
	MinBackoff, MaxBackoff time.Duration
	// ConnectTimeout bounds each connection's dial, RTMP handshake,
	// connect and publish (DefaultForwardTimeout): a target that never
	// answers counts as a failure and is retried after the backoff.
	ConnectTimeout time.Duration
	// DeadAfter, when set, ends a connection whose target has not
	// acknowledged anything for this long (detectDeadPeer), so a target
	// that died or was cut off is left in seconds rather than when the
	// socket buffer fills and a write times out. An edge sets it for its
	// origins; a far ingest may be slow to acknowledge and goes without.
	DeadAfter time.Duration
	// TLSConfig is used for rtmps:// targets.
	TLSConfig *tls.Config
	// NetDial, when set, dials the TCP connections to the target.
	NetDial NetDial
	// AddLink, when set, lists each connection that publishes among the
	// local stream's (fanout.Stream.AddLink: role RoleForward, the target
	// redacted) until it ends, so its socket's kernel figures count with
	// the stream's; NextID, when set, numbers it.
	AddLink func(fanout.Link) (remove func())
	NextID  func() uint64
	// Log, when set, receives a line per connect and loss.
	Log *slog.Logger

	// Stats are the forwarder's running counters.
	Stats ForwardStats

	mu       sync.Mutex
	queue    []*rtmp.Message
	queued   int
	meta     *rtmp.Message // kept aside: sent first on every connection
	videoSeq *rtmp.Message
	audioSeq *rtmp.Message
	skipping bool // dropping until the next keyframe
	// gop is the stream's media since its newest keyframe (at most
	// QueueBytes): the first connection starts with it, so a target
	// hears the keyframe that came while it was being dialled rather
	// than waiting up to a GOP for the next one. It shares its messages
	// with the queue.
	gop      []*rtmp.Message
	gopBytes int
	// sent is set once a connection carried media. A reconnect then
	// starts at the next keyframe, not the current GOP: the target's
	// players, kept through its grace, saw part of that GOP already,
	// and playing it again would add its length to their latency.
	sent bool
	// sawVideo: until a stream shows video, every audio frame is a place
	// to start (an audio-only stream has no keyframes), as in fanout.
	sawVideo bool
	wake     chan struct{}
	stop     context.CancelFunc
	done     chan struct{}
	clean    atomic.Bool // stopped by Unpublish: say goodbye
}

// unpublishWait bounds Unpublish's goodbye: sending what is queued, the
// unpublish, and the target's close.
const unpublishWait = time.Second

// ForwardStats count what a forwarder did.
type ForwardStats struct {
	Connects, Failures atomic.Uint64
	Messages, Bytes    atomic.Uint64
	Dropped            atomic.Uint64 // messages dropped because the target fell behind
	Connected          atomic.Bool
}

// Start runs the forwarder until Close.
func (f *Forwarder) Start() {
	if f.QueueBytes <= 0 {
		f.QueueBytes = 8 << 20
	}
	if f.MinBackoff <= 0 {
		f.MinBackoff = time.Second
	}
	if f.MaxBackoff < f.MinBackoff {
		f.MaxBackoff = 30 * time.Second
	}
	if f.ConnectTimeout <= 0 {
		f.ConnectTimeout = DefaultForwardTimeout
	}
	f.wake = make(chan struct{}, 1)
	f.done = make(chan struct{})
	f.skipping = true // a target starts at a keyframe
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	go f.run(ctx)
}

// Close stops the forwarder and waits for its connection to close. The
// target sees its publisher lost, as if the connection dropped: it keeps
// its players through its grace for a return. Use it when the local
// publisher was lost.
func (f *Forwarder) Close() {
	f.stop()
	<-f.done
}

// Unpublish stops the forwarder as the end of the stream: what is queued
// is sent, then a clean unpublish, so the target ends the stream at once
// (its players are told) instead of waiting out a lost publisher. It waits
// up to about a second for that before closing the connection.
func (f *Forwarder) Unpublish() {
	f.clean.Store(true)
	f.Close()
}

// stopFor is Unpublish when clean, else Close: how a hook's stop mirrors
// the way the local publisher ended.
func (f *Forwarder) stopFor(clean bool) {
	if clean {
		f.Unpublish()
	} else {
		f.Close()
	}
}

// WriteMessage queues a copy of m for the target; it never blocks.
func (f *Forwarder) WriteMessage(m *rtmp.Message) error {
	c := &rtmp.Message{Type: m.Type, Timestamp: m.Timestamp, Payload: append([]byte(nil), m.Payload...)}
	f.mu.Lock()
	defer f.mu.Unlock()
	header := true
	switch {
	case m.Type == rtmp.TypeVideo && rtmp.IsVideoSequenceHeader(m.Payload):
		f.videoSeq = c
	case m.Type == rtmp.TypeAudio && rtmp.IsAudioSequenceHeader(m.Payload):
		f.audioSeq = c
	case m.Type == rtmp.TypeDataAMF0:
		if _, ok := rtmp.MetadataPayload(m.Payload); !ok {
			return nil
		}
		f.meta = c
	default:
		header = false
	}
	if m.Type == rtmp.TypeVideo {
		f.sawVideo = true
	}
	if header {
		// Kept for the next connection, and sent on this one whatever
		// is being skipped: a header that arrives after the connection
		// opened (an encoder's first messages) must not be lost.
		f.push(c)
		return nil
	}
	start := f.isStart(c)
	f.keep(c, start)
	if start {
		f.skipping = false
	}
	if f.skipping || f.queued+len(c.Payload) > f.QueueBytes {
		if !f.skipping {
			// Behind by a whole queue: drop it and start again at the
			// next keyframe rather than send a broken GOP.
			f.Stats.Dropped.Add(uint64(len(f.queue)))
			f.queue, f.queued, f.skipping = nil, 0, true
		}
		f.Stats.Dropped.Add(1)
		return nil
	}
	f.push(c)
	return nil
}

// keep adds media message c to the GOP a new connection starts with: a
// keyframe begins it again, and a GOP larger than the queue is given up
// until the next keyframe. Called with f.mu held.
func (f *Forwarder) keep(c *rtmp.Message, start bool) {
	switch {
	case f.sent: // only the first connection needs it
	case start:
		clear(f.gop)
		f.gop, f.gopBytes = append(f.gop[:0], c), len(c.Payload)
	case len(f.gop) == 0:
	case f.gopBytes+len(c.Payload) > f.QueueBytes:
		clear(f.gop)
		f.gop, f.gopBytes = f.gop[:0], 0
	default:
		f.gop = append(f.gop, c)
		f.gopBytes += len(c.Payload)
	}
}

// isStart says whether a target may start at media message c: a
// keyframe, or any audio frame of a stream that has shown no video.
// Called with f.mu held.
func (f *Forwarder) isStart(c *rtmp.Message) bool {
	if c.Type == rtmp.TypeVideo {
		return rtmp.IsKeyframe(c.Payload)
	}
	return c.Type == rtmp.TypeAudio && !f.sawVideo
}

// push queues c and wakes the sender. Called with f.mu held.
func (f *Forwarder) push(c *rtmp.Message) {
	f.queue = append(f.queue, c)
	f.queued += len(c.Payload)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Forwarder) run(ctx context.Context) {
	defer close(f.done)
	backoff := f.MinBackoff
	target := ""
	for ctx.Err() == nil {
		if f.Next != nil {
			target = f.Next(target)
		} else {
			target = f.URL
		}
		carried, err := f.session(ctx, target)
		if ctx.Err() != nil {
			return
		}
		f.Stats.Failures.Add(1)
		if carried {
			backoff = f.MinBackoff
		}
		f.logf("forward: target lost", "target", redact(target), "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, f.MaxBackoff)
	}
}

// session connects, publishes and sends until the target fails; carried
// says whether any media went out.
func (f *Forwarder) session(ctx context.Context, target string) (carried bool, err error) {
	if target == "" {
		return false, errors.New("no target")
	}
	dctx, cancel := context.WithTimeout(ctx, f.ConnectTimeout)
	c, err := (&rtmp.Dialer{TLSConfig: f.TLSConfig, NetDial: f.NetDial}).Dial(dctx, target)
	cancel()
	if err != nil {
		return false, err
	}
	defer c.Close()
	if f.DeadAfter > 0 {
		if err := detectDeadPeer(c.Conn(), f.DeadAfter); err != nil {
			f.logf("forward: a dead target will be noticed late", "target", redact(target), "err", err)
		}
	}
	dl := &sessionDeadline{c: c}
	stop := context.AfterFunc(ctx, func() { dl.end(f.clean.Load()) })
	defer stop()
	c.Timeout = f.ConnectTimeout
	if err := c.Publish(); err != nil {
		return false, err
	}
	f.Stats.Connects.Add(1)
	f.Stats.Connected.Store(true)
	defer f.Stats.Connected.Store(false)
	f.logf("forward: publishing", "target", redact(target))
	if f.AddLink != nil {
		l := link(RoleForward, target, c.Conn(), f.NextID)
		base := f.Stats.Bytes.Load()
		l.Sent = func() uint64 { return f.Stats.Bytes.Load() - base }
		defer f.AddLink(l)() // before the deferred close: the socket's final figures come from its close
	}
	read := make(chan struct{})
	go func() { // acknowledgements and the like; a read error ends nothing here
		defer close(read)
		discard(c)
	}()
	f.mu.Lock()
	head := []*rtmp.Message{f.meta, f.videoSeq, f.audioSeq}
	// A connection starts at a keyframe: on the first, the current
	// GOP's, when there is one; else the next.
	f.queue, f.queued, f.skipping = nil, 0, true
	if !f.sent && len(f.gop) > 0 {
		f.queue, f.queued, f.skipping = slices.Clone(f.gop), f.gopBytes, false
	}
	f.mu.Unlock()
	for _, m := range head {
		if m != nil {
			if err := f.send(dl, m); err != nil {
				return false, err
			}
		}
	}
	for {
		f.mu.Lock()
		batch := f.queue
		f.queue, f.queued = nil, 0
		f.mu.Unlock()
		for _, m := range batch {
			if err := f.send(dl, m); err != nil {
				return carried, err
			}
			carried = true
		}
		if carried && !f.sent {
			f.mu.Lock()
			f.sent = true
			f.gop, f.gopBytes = nil, 0
			f.mu.Unlock()
		}
		if err := c.Flush(); err != nil {
			return carried, err
		}
		if ctx.Err() != nil && f.clean.Load() {
			// The queue was sent above (the stream's last messages
			// came before Unpublish); now the goodbye.
			return carried, goodbye(dl, read)
		}
		select {
		case <-ctx.Done():
			if !f.clean.Load() {
				return carried, ctx.Err()
			}
		case <-f.wake:
		}
	}
}

// goodbye ends a publish cleanly: the unpublish, then a half-close, then
// the target's close (read ends), so the commands are read before the
// connection goes (closing with unread input would reset it), all within
// unpublishWait.
func goodbye(dl *sessionDeadline, read <-chan struct{}) error {
	// Again: a Publish that was still waiting when the forwarder stopped
	// cleared the read deadline as it returned, and the AfterFunc that
	// sets it may not have run yet.
	dl.end(true)
	c := dl.c
	if err := c.Unpublish(); err != nil {
		return err
	}
	if cw, ok := c.Conn().(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	<-read
	return nil
}

// sessionDeadline keeps a forward's write deadlines and its end from
// racing: once the forwarder stops, no send may push the deadline out
// again.
type sessionDeadline struct {
	c      *rtmp.Client
	mu     sync.Mutex
	ending bool
	until  time.Time // a goodbye's deadline, set by the first end
}

// end stops the session: at once (closing the connection), or, for a
// goodbye, within unpublishWait of the first call.
func (d *sessionDeadline) end(goodbye bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ending = true
	if !goodbye {
		d.c.Close()
		return
	}
	if d.until.IsZero() {
		d.until = time.Now().Add(unpublishWait)
	}
	d.c.Conn().SetDeadline(d.until)
}

// writing sets the deadline of the next write, unless the session is
// ending (its deadline stands).
func (d *sessionDeadline) writing() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.ending {
		d.c.Conn().SetWriteDeadline(time.Now().Add(10 * time.Second))
	}
}

func (f *Forwarder) send(dl *sessionDeadline, m *rtmp.Message) error {
	dl.writing()
	c := dl.c
	out := *m
	if err := c.WriteMessage(&out); err != nil {
		return err
	}
	f.Stats.Messages.Add(1)
	f.Stats.Bytes.Add(uint64(len(m.Payload)))
	return nil
}

// discard reads and drops what the target sends until the connection ends.
func discard(c *rtmp.Client) {
	for {
		if _, err := c.ReadMessage(); err != nil {
			return
		}
	}
}

func (f *Forwarder) logf(msg string, args ...any) {
	if f.Log == nil {
		return
	}
	if f.Stream != "" {
		args = append([]any{"stream", f.Stream}, args...)
	}
	f.Log.Info(msg, args...)
}
