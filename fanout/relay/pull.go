package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	// NetDial, when set, dials the TCP connections to the origins.
	NetDial NetDial
	// Log, when set, hears of upstream changes: the first failure as a
	// warning, a pull that keeps failing at growing intervals, its
	// recovery once (pull_health.go).
	Log *slog.Logger

	// Connected, when set, is called with each origin the pull starts
	// playing from and the connection it plays on (closed when the pull
	// leaves that origin).
	Connected func(o Origin, conn net.Conn)
}

// Run pulls until ctx ends. Each round tries the stream's origins in rank
// order, starting after the one that just failed, so a dead owner costs one
// failed connect, not one per round; after a round in which every origin
// failed it waits (a second, growing to a few while they keep failing:
// pull_health.go, which also keeps the log of a dead cluster short).
func (p *Puller) Run(ctx context.Context) error {
	health := newPullHealth(p.Log, p.Key)
	var last string // the origin that just failed, tried last next round
	for ctx.Err() == nil {
		ranked := rotateAfter(p.Origins.Rank(p.Key), last)
		if len(ranked) == 0 {
			health.failed("", errNoOrigins)
		}
		ok := false
		for _, o := range ranked {
			err := p.pullFrom(ctx, o, health)
			if ctx.Err() != nil {
				return nil
			}
			last = o.Addr
			if errors.Is(err, errUnpublished) {
				// The origin is fine and its publisher stopped: the
				// stream, if it starts again, starts on its owner, not
				// on the next origin (which would only wait out its
				// play-wait). Start the ranking over, after a breath.
				if p.Log != nil {
					p.Log.Info("pull: upstream unpublished", "stream", p.Key, "origin", o.URL)
				}
				last, ok = "", true
				pause(ctx, unpublishedPause)
				break
			}
			health.failed(o.URL, err)
			if errors.Is(err, errPlayed) {
				ok = true // it played: start the next round at once
				break
			}
		}
		if !ok {
			pause(ctx, health.roundPause())
		}
	}
	return nil
}

// errNoOrigins is a round with no origin to try (none resolved).
var errNoOrigins = errors.New("no origins")

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

// pullFrom plays the stream from o until the upstream fails or ctx ends,
// telling health when media flows.
func (p *Puller) pullFrom(ctx context.Context, o Origin, health *pullHealth) error {
	timeout := p.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultOriginTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	c, err := (&rtmp.Dialer{TLSConfig: p.TLSConfig, NetDial: p.NetDial}).Dial(dctx, o.URL+"/"+p.streamPath())
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
		if p.Log != nil {
			p.Log.Warn("pull: a dead origin will be noticed late", "stream", p.Key, "origin", o.URL, "err", err)
		}
	}
	c.Timeout = timeout
	if err := c.Play(); err != nil {
		return fmt.Errorf("play: %w", err)
	}
	if p.Connected != nil {
		p.Connected(o, c.Conn())
	}
	flowing := false
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
		if !flowing {
			flowing = true
			health.playing(o.URL)
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
