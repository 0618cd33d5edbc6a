package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// DefaultOriginTimeout bounds an edge's connection to an origin — the TCP
// connect, the RTMP handshake, connect and play (or publish) — so that an
// origin that is down without refusing (a blackholed address, a host that
// accepts and never answers) costs a failover about a second.
const DefaultOriginTimeout = time.Second

// Sink receives a pulled stream's media and data messages as a publisher's
// would arrive (the payload is only valid during the call).
type Sink interface {
	WriteMessage(m *rtmp.Message) error
}

// Unpublisher is a Sink that hears when the upstream's publisher
// unpublished on purpose (NetStream.Play.UnpublishNotify), so that it can
// end the stream for its own players at once.
type Unpublisher interface {
	Unpublished()
}

// Puller plays one stream from its owning origin and feeds it to a Sink;
// on a connect failure, a refused play or a dead upstream it moves to the
// next origin of the stream's ranking at once.
type Puller struct {
	// Key is the stream's "app/name"; Query (without '?') is passed to the
	// origin as the stream name's query (tokens travel this way).
	Key, Query string
	// Origins ranks the origins; refreshed by its owner.
	Origins *Set
	// Sink receives every message.
	Sink Sink
	// ConnectTimeout bounds dialling, the handshake and play
	// (DefaultOriginTimeout: a dead owner must not hold the failover up).
	ConnectTimeout time.Duration
	// DeadAfter is how long the origin may stop answering at the TCP
	// level (probes and data unacknowledged) before its connection is
	// given up (DefaultDeadAfter): a host that died or was cut off while
	// the pull played sends no reset, and would hold the pull for minutes.
	DeadAfter time.Duration
	// TLSConfig is used for rtmps:// origins (nil: the system roots).
	TLSConfig *tls.Config
	// Log, when set, receives a line per upstream change.
	Log *slog.Logger

	// Connected, when set, is called with each origin the pull starts
	// playing from.
	Connected func(Origin)
}

// Run pulls until ctx ends. Each round tries the stream's origins in rank
// order, starting after the one that just failed, so a dead owner costs one
// failed connect, not one per round; a round in which every origin fails
// waits a second before the next.
func (p *Puller) Run(ctx context.Context) error {
	var last string // the origin that just failed, tried last next round
	for ctx.Err() == nil {
		ranked := rotateAfter(p.Origins.Rank(p.Key), last)
		if len(ranked) == 0 {
			p.logf("pull: no origins", "stream", p.Key)
		}
		ok := false
		for _, o := range ranked {
			err := p.pullFrom(ctx, o)
			if ctx.Err() != nil {
				return nil
			}
			p.logf("pull: upstream lost", "stream", p.Key, "origin", o.URL, "err", err)
			last = o.Addr
			if errors.Is(err, errUnpublished) {
				// The origin is fine and its publisher stopped: the
				// stream, if it starts again, starts on its owner, not
				// on the next origin (which would only wait out its
				// play-wait). Start the ranking over, after a breath.
				last, ok = "", true
				pause(ctx, unpublishedPause)
				break
			}
			if errors.Is(err, errPlayed) {
				ok = true // it played: start the next round at once
				break
			}
		}
		if !ok {
			pause(ctx, time.Second)
		}
	}
	return nil
}

// errPlayed marks an upstream that played before it failed.
var errPlayed = errors.New("upstream ended")

// errUnpublished marks an upstream whose publisher unpublished on purpose
// (it wraps errPlayed).
var errUnpublished = fmt.Errorf("%w: %s", errPlayed, rtmp.CodePlayUnpublish)

// unpublishedPause is the wait before playing a stream again from the
// start of its ranking after its origin said it was unpublished.
const unpublishedPause = 200 * time.Millisecond

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// rotateAfter moves the origin addr, if present, to the end of ranked.
func rotateAfter(ranked []Origin, addr string) []Origin {
	for i, o := range ranked {
		if o.Addr == addr {
			return append(append(ranked[:i:i], ranked[i+1:]...), o)
		}
	}
	return ranked
}

// pullFrom plays the stream from o until the upstream fails or ctx ends.
func (p *Puller) pullFrom(ctx context.Context, o Origin) error {
	timeout := p.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultOriginTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	c, err := (&rtmp.Dialer{TLSConfig: p.TLSConfig}).Dial(dctx, o.URL+"/"+p.streamPath())
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	dead := p.DeadAfter
	if dead <= 0 {
		dead = DefaultDeadAfter
	}
	if err := detectDeadPeer(c.Conn(), dead); err != nil {
		p.logf("pull: a dead origin will be noticed late", "stream", p.Key, "origin", o.URL, "err", err)
	}
	c.Timeout = timeout
	if err := c.Play(); err != nil {
		return fmt.Errorf("play: %w", err)
	}
	p.logf("pull: playing", "stream", p.Key, "origin", o.URL)
	if p.Connected != nil {
		p.Connected(o)
	}
	for {
		m, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("%w: %w", errPlayed, err)
		}
		if !relayed(m) {
			code := statusCode(m)
			if code == rtmp.CodePlayUnpublish {
				if u, ok := p.Sink.(Unpublisher); ok {
					u.Unpublished() // the stream is over: tell this edge's players now
				}
			}
			if code == rtmp.CodePlayUnpublish {
				return errUnpublished
			}
			if code == rtmp.CodePlayStreamNotFound {
				return fmt.Errorf("%w: %s", errPlayed, code)
			}
			continue
		}
		if err := p.Sink.WriteMessage(m); err != nil {
			return fmt.Errorf("%w: sink: %w", errPlayed, err)
		}
	}
}

func (p *Puller) streamPath() string {
	if p.Query == "" {
		return p.Key
	}
	return p.Key + "?" + p.Query
}

func (p *Puller) logf(msg string, args ...any) {
	if p.Log != nil {
		p.Log.Info(msg, args...)
	}
}

// relayed reports whether m is part of the stream itself: audio, video and
// its metadata. Other data messages (|RtmpSampleAccess and the like) are the
// origin's own words to its player, not the publisher's.
func relayed(m *rtmp.Message) bool {
	switch m.Type {
	case rtmp.TypeAudio, rtmp.TypeVideo:
		return true
	case rtmp.TypeDataAMF0:
		_, ok := rtmp.MetadataPayload(m.Payload)
		return ok
	}
	return false
}

// statusCode is the code of an onStatus command, or "".
func statusCode(m *rtmp.Message) string {
	if m.Type != rtmp.TypeCommandAMF0 {
		return ""
	}
	cmd, err := rtmp.ParseCommand(m.Type, m.Payload)
	if err != nil || cmd.Name != "onStatus" {
		return ""
	}
	return cmd.StatusCode()
}
