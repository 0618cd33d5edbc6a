package fanout

// What a stream does when its publisher goes, and when none comes:
//
//   - A lost connection (a crash, a network drop, a killed encoder) tells
//     players nothing: they keep their connections through
//     Config.PublishGrace and resume at the returning publisher's first
//     keyframe on the same timeline. Every RTMP player we test (ffmpeg and
//     mpv through libavformat, librtmp's rtmpdump, GStreamer's rtmp2src,
//     VLC) stops at NetStream.Play.UnpublishNotify, and rtmp2src at a bare
//     StreamEOF too, so nothing of the kind may be sent while a return is
//     still possible.
//   - A clean unpublish (FCUnpublish, deleteStream, closeStream: what an
//     encoder sends when its user presses stop, and ffmpeg at the end of
//     its input) is the publisher saying the stream is over: players get
//     StreamEOF + NetStream.Play.UnpublishNotify at once. The stream still
//     keeps its timeline, and players that ignore the notice, for the grace.
//   - When the grace runs out, players still attached get the same notice,
//     a moment to receive it, and then their connections are closed.
//   - A publisher that sends no media for Config.PublisherTimeout is stale:
//     its connection is closed, which releases the name as a drop does.
//   - A second publisher of a live name is refused unless Config.Takeover
//     lets it replace the first.
//   - A player of a name nobody publishes is answered
//     NetStream.Play.StreamNotFound after Config.PlayWait (AwaitPublisher).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// ErrStreamNotFound says that nobody published a name within
// Config.PlayWait. RTMP answers it with NetStream.Play.StreamNotFound; an
// HTTP delivery answers 404.
var ErrStreamNotFound = errors.New("stream not found")

// AwaitPublisher waits until key can be played — it has a publisher, or it
// had one and is within its publish grace — and returns nil, or returns an
// error wrapping ErrStreamNotFound once Config.PlayWait has passed without
// one, or ctx's error. A protocol that answers before it streams (HTTP-FLV:
// 404 or 200) calls it before attaching; RTMP, whose clients want
// NetStream.Play.Start at once, attaches its players at once and the
// stream answers them StreamNotFound after the same PlayWait (notFound).
func (h *Hub) AwaitPublisher(ctx context.Context, key string) error {
	defer h.Want(key, viewerQuery(ctx))() // an edge pulls what its viewers wait for
	timer := time.NewTimer(h.cfg.PlayWait)
	defer timer.Stop()
	for {
		h.mu.Lock()
		s := h.streams[key]
		changed := h.attachedSignal()
		h.mu.Unlock()
		if s != nil && s.playable() {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return fmt.Errorf("%s: nobody published it within %v: %w", key, h.cfg.PlayWait, ErrStreamNotFound)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notFound ends the players of a stream nobody published within PlayWait
// of its first player: NetStream.Play.StreamNotFound, then the connection
// closed. It writes through each player's session, which is safe because
// nothing else writes to them: a never-published stream has nothing in its
// log, and being removed it can get nothing more.
func (s *Stream) notFound(players []*Player) {
	err := fmt.Errorf("%s: nobody published it within %v: %w", s.key, s.hub.cfg.PlayWait, ErrStreamNotFound)
	for _, p := range players {
		if p.sess != nil {
			p.sess.NotFound(err)
		}
		p.disconnect("stream_not_found")
	}
}

// graceFor is how long a stream without a publisher waits for one: the
// publish grace once it had one, the play wait for a name never published.
func (s *Stream) graceFor() time.Duration {
	if s.published {
		return s.hub.cfg.PublishGrace
	}
	return s.hub.cfg.PlayWait
}

// attachedSignal returns a channel closed at the next publisher's attach.
// Called with h.mu held.
func (h *Hub) attachedSignal() chan struct{} {
	if h.attached == nil {
		h.attached = make(chan struct{})
	}
	return h.attached
}

// publisherAttached wakes every AwaitPublisher.
func (h *Hub) publisherAttached() {
	h.mu.Lock()
	close(h.attachedSignal())
	h.attached = nil
	h.mu.Unlock()
}

// playable reports whether a player may join: a publisher is attached, or
// one was and may return within the grace.
func (s *Stream) playable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.removed && (s.publisher != nil || s.published)
}

// TakeoverFunc decides whether incoming may replace current, the live
// publisher of the same name. Access control extends it (the same
// credentials, say); nil refuses every takeover.
type TakeoverFunc func(current, incoming *rtmp.Session) bool

// takeoverWait bounds how long a new publisher waits for the one it
// replaces to let go of the stream.
const takeoverWait = 2 * time.Second

// takeOver evicts the stream's current publisher if the takeover policy
// lets incoming replace it, and reports whether it is gone.
func (h *Hub) takeOver(s *Stream, incoming *rtmp.Session) bool {
	s.mu.Lock()
	cur := s.publisher
	s.mu.Unlock()
	if cur == nil {
		return true
	}
	if cur.src != nil { // a pulled stream yields to one published here
		h.logger.Info("local publisher replaces the pulled stream", "stream", s.key, "new", incoming.ID)
		cur.src.yield()
		return true
	}
	if h.cfg.Takeover == nil || !h.cfg.Takeover(cur.sess, incoming) {
		return false
	}
	h.logger.Info("publisher replaced by a new one", "stream", s.key, "old", cur.sess.ID, "new", incoming.ID)
	return cur.evict("taken_over", takeoverWait)
}

// publisherLoss is a publisher's part in the above: its end, and the
// watchdog that finds it stale.
type publisherLoss struct {
	ended    chan struct{} // closed once it let go of the stream
	clean    bool          // it unpublished cleanly (set before ended closes)
	lastIn   uint64        // the stream's MessagesIn at the last check
	lastSeen time.Time     // when it last changed
	watchdog *time.Timer
	evict    atomic.Pointer[string] // why the hub wants it gone
}

func (p *publisher) initLoss() {
	p.loss.ended = make(chan struct{})
	p.loss.lastSeen = time.Now()
	p.loss.lastIn = p.s.stats.MessagesIn.Load()
	p.loss.watchdog = time.AfterFunc(p.checkEvery(), p.checkStale)
}

// checkEvery is the watchdog's period: a quarter of the timeout, so a stale
// publisher is found within 1.25 timeouts.
func (p *publisher) checkEvery() time.Duration {
	return max(p.s.hub.cfg.PublisherTimeout/4, 10*time.Millisecond)
}

// checkStale runs on the watchdog's timer. It reads only the stream's
// message counter, so the ingest path pays nothing for it.
func (p *publisher) checkStale() {
	select {
	case <-p.loss.ended:
		return
	default:
	}
	now := time.Now()
	if in := p.s.stats.MessagesIn.Load(); in != p.loss.lastIn {
		p.loss.lastIn, p.loss.lastSeen = in, now
	} else if quiet := now.Sub(p.loss.lastSeen); quiet >= p.s.hub.cfg.PublisherTimeout {
		p.s.logger().Warn("stale publisher: no media; closing it to free the name", "quiet", quiet.Round(time.Millisecond), "session", p.sess.ID)
		p.evict("stale_publisher", 0)
		return
	}
	p.loss.watchdog.Reset(p.checkEvery())
}

// evict closes the publisher's connection with reason and waits up to wait
// for it to let go of the stream, reporting whether it did. Ending the
// connection, rather than detaching here, leaves the detach to the
// goroutine that ingests, so no message of the old publisher can reach the
// log after the new one attached. A session goroutine's connection is shut
// down; an io_uring worker, which reads a duplicate descriptor, closes the
// connection at its next idle check (evicted).
func (p *publisher) evict(reason string, wait time.Duration) bool {
	p.loss.evict.Store(&reason)
	p.sess.CloseReason(reason)
	shutdownConn(p.sess.Conn()) // fails harmlessly once the ring took it
	select {
	case <-p.loss.ended:
		return true
	case <-time.After(wait):
		return false
	}
}

// evicted returns, once the hub evicted p, the error its connection ends
// with.
func (p *publisher) evicted() error {
	if r := p.loss.evict.Load(); r != nil {
		return &rtmp.ProtocolError{Reason: *r, Detail: "publisher closed by the server"}
	}
	return nil
}

// Unpublish implements rtmp.Unpublisher: the publisher stopped cleanly, so
// players are told the stream ended (see the top of this file).
func (p *publisher) Unpublish() error {
	p.end(true)
	return nil
}

// letGo is called by detachPublisher once p no longer holds the stream.
func (p *publisher) letGo() {
	if p.loss.watchdog != nil {
		p.loss.watchdog.Stop()
	}
	if p.loss.ended != nil { // nil: it never attached
		close(p.loss.ended)
	}
}

// appendEndNotice tells the stream's players that it ended: StreamEOF and
// NetStream.Play.UnpublishNotify. Called with s.mu held by the log's writer.
func (s *Stream) appendEndNotice() {
	if s.endNoticed {
		return
	}
	s.endNoticed = true
	s.appendUserControl(1) // StreamEOF
	s.appendStatus(rtmp.CodePlayUnpublish, s.key+" is now unpublished.")
}

// resumeState serves players who stay through a publisher change: they
// already decode with the previous publisher's sequence headers, and
// sending identical ones again is not harmless — libavformat's FLV demuxer
// passes every sequence header on as new extradata, on which ffmpeg's
// Matroska muxer rewrites its track headers in place and broke the file
// (four tracks in a two-track recording), and VLC's TS muxer opened a
// second video stream. So a resuming player gets only what changed.
type resumeState struct {
	meta, videoSeq, audioSeq []byte // what the players have
}

// remember records, as a new publisher attaches, what the previous one
// gave the players. Called with s.mu held.
func (r *resumeState) remember(s *Stream) {
	for _, kept := range []struct {
		dst *[]byte
		src []byte
	}{
		{&r.meta, s.meta}, {&r.videoSeq, s.videoSeq}, {&r.audioSeq, s.audioSeq},
	} {
		if kept.src != nil {
			*kept.dst = kept.src
		}
	}
}

// changed keeps of h only what differs from what resuming players already
// have. Called with s.mu held.
func (r *resumeState) changed(h Headers) Headers {
	keep := func(p, had []byte) []byte {
		if bytes.Equal(p, had) {
			return nil
		}
		return p
	}
	return Headers{Meta: keep(h.Meta, r.meta), VideoSeq: keep(h.VideoSeq, r.videoSeq), AudioSeq: keep(h.AudioSeq, r.audioSeq)}
}

// endDrain is how long players get to receive the end notice before their
// connections are closed at the end of the grace.
const endDrain = time.Second
