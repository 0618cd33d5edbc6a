package fanout

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// ErrSourceReplaced says that a local RTMP publisher took a source's
// stream over: what the source still writes is not the stream's any more.
var ErrSourceReplaced = errors.New("source replaced by a local publisher")

// Source is a publisher that is not an *rtmp.Session — a stream pulled
// from an origin by an edge (fanout/relay). It goes through the same
// attach, ingest and detach as an RTMP publisher, so its players get one
// monotonic timeline across upstream changes and resume at the next
// keyframe, as they do across a publisher's reconnect within the grace.
//
// WriteMessage, Restart and Close are meant for one goroutine (the
// puller's); a local publisher may take the stream over from any other.
type Source struct {
	hub *Hub
	key string

	mu       sync.Mutex // held while ingesting, so a takeover never races it
	p        *publisher // nil once closed or replaced
	replaced bool
}

// PublishSource attaches a source publisher to the stream key
// ("app/name"). It is refused (an error wrapping errAlreadyPublishing)
// while another publisher holds the stream. Access control is the
// caller's: a source is the server's own publisher, not a client. up, when
// set, is the connection its messages arrive on (a pull's from its
// origin), listed and counted as the stream's publisher's.
func (h *Hub) PublishSource(key string, up *Link) (*Source, error) {
	src := &Source{hub: h, key: key}
	if err := src.attach(up); err != nil {
		return nil, err
	}
	return src, nil
}

// attach makes a new publisher of src the stream's writer, reading from
// up when set. Called with src.mu held (or before src is shared).
func (src *Source) attach(up *Link) error {
	var ln *link
	if up != nil {
		ln = newLink(*up)
	}
	for range 2 { // a stream expiring right now is replaced once
		s := src.hub.stream(src.key)
		p := &publisher{s: s, src: src, since: time.Now(), baseIn: s.stats.BytesIn.Load(), link: ln}
		if ln != nil {
			p.cookie = ln.cookie
		}
		err := s.attachPublisher(p)
		if errors.Is(err, errStreamGone) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", src.key, err)
		}
		p.loss.ended = make(chan struct{}) // no stale watchdog: the puller watches its upstream
		src.p = p
		src.hub.publisherAttached()
		return nil
	}
	return fmt.Errorf("%s: %w", src.key, errStreamGone)
}

// WriteMessage ingests one message as a publisher's would arrive; the
// payload is not kept after the call.
func (src *Source) WriteMessage(m *rtmp.Message) error {
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.p == nil {
		if src.replaced {
			return ErrSourceReplaced
		}
		return errStreamGone
	}
	return src.p.s.ingest(m)
}

// Restart tells the stream that a new upstream begins (the pull moved to
// another origin, on connection up when set): like a publisher's
// reconnect, the players keep their connections and the timeline, and
// resume at the new upstream's first keyframe with only the headers that
// changed.
func (src *Source) Restart(up *Link) error {
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.replaced {
		return ErrSourceReplaced
	}
	if src.p != nil {
		src.p.end(false)
		src.p = nil
	}
	return src.attach(up)
}

// Close lets go of the stream as a lost publisher does: players stay for
// the publish grace, in which a new source or publisher continues the
// timeline.
func (src *Source) Close() error {
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.p != nil {
		src.p.end(false)
		src.p = nil
	}
	return nil
}

// Unpublish lets go of the stream as a publisher's clean unpublish does:
// the upstream said the stream is over, so players are told at once. A
// later Restart continues the timeline for those who stayed.
func (src *Source) Unpublish() error {
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.p != nil {
		src.p.end(true)
		src.p = nil
	}
	return nil
}

// Replaced reports whether a local publisher took the stream over.
func (src *Source) Replaced() bool {
	src.mu.Lock()
	defer src.mu.Unlock()
	return src.replaced
}

// yield hands the stream to a local publisher: a stream published here
// is served from here, never pulled.
func (src *Source) yield() {
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.p != nil {
		src.p.end(false)
		src.p = nil
	}
	src.replaced = true
}

// PublishedLocally reports whether the stream's publisher is an RTMP
// client of this server (not a Source).
func (s *Stream) PublishedLocally() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publisher != nil && s.publisher.src == nil
}
