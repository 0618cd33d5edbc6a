package fanout

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/fanout/access"
	"github.com/bbllive/bbllive/rtmp"
)

var (
	errAlreadyPublishing = errors.New("stream is already being published")
	errStreamGone        = errors.New("stream is shutting down")
)

// Hub is the registry of live streams by "app/name" and the rtmp.Handler
// that attaches publishers and players to them.
type Hub struct {
	cfg       Config
	transport Transport
	logger    *slog.Logger

	mu       sync.Mutex
	streams  map[string]*Stream
	attached chan struct{} // closed at a publisher's attach (publisher_loss.go)

	firstFrame latencyHist // time to first frame of every player

	gate Gate // access control (admit.go); nil admits everyone

	conns        atomic.Pointer[connWriter] // players on connections without a socket to write (TLS), connwriter.go
	demand       Demand                     // told of every viewer's interest (hooks.go)
	publishHooks []PublishHook              // run at every local publish (hooks.go)
	sources      connSources                // viewers listed beside the players (HLS sessions), connsource.go
}

// NewHub creates a hub delivering through t. cfg's zero fields take their
// defaults.
func NewHub(cfg Config, t Transport, log *slog.Logger) *Hub {
	cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	return &Hub{cfg: cfg, transport: t, logger: log, streams: map[string]*Stream{}}
}

// Config is the hub's effective configuration.
func (h *Hub) Config() Config { return h.cfg }

// stream returns the stream for key, creating it (not live, with its grace
// timer armed) when absent.
func (h *Hub) stream(key string) *Stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streams[key]
	if s == nil {
		s = newStream(h, key)
		s.mu.Lock()
		s.startGrace()
		s.mu.Unlock()
		h.streams[key] = s
	}
	return s
}

// Publish implements rtmp.Handler: access control first (admit.go), then
// one publisher per name; a second one is refused and the first is
// untouched, unless Config.Takeover lets the second replace it.
func (h *Hub) Publish(sess *rtmp.Session) (rtmp.Publisher, error) {
	adm, err := h.admitRTMP(sess, access.Publish)
	if err != nil {
		return nil, err
	}
	p, err := h.publish(sess, adm)
	if err != nil {
		adm.Done()
	}
	return p, err
}

func (h *Hub) publish(sess *rtmp.Session, adm *access.Admission) (rtmp.Publisher, error) {
	for range 3 { // a stream expiring right now is replaced once; a taken-over one retried once
		s := h.stream(sess.Key())
		p := &publisher{s: s, sess: sess, cookie: socketCookie(sess.Conn()), since: time.Now(),
			baseIn: s.stats.BytesIn.Load(), admission: adm} // no ingest until attached: the base is exact
		err := s.attachPublisher(p)
		if errors.Is(err, errStreamGone) {
			continue
		}
		if errors.Is(err, errAlreadyPublishing) && h.takeOver(s, sess) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sess.Key(), err)
		}
		if pr, ok := h.transport.(PublisherReader); ok && hasFD(sess.Conn()) {
			if err := pr.addPublisher(p); err != nil {
				h.logger.Warn("publisher stays on netpoll reads", "stream", sess.Key(), "err", err)
			}
		}
		p.initLoss()
		h.publisherAttached()
		p.stop = h.published(s, rtmpQuery(sess))
		return p, nil
	}
	return nil, errStreamGone
}

// AdmitPlay implements rtmp.PlayAdmitter: access control decides on an
// RTMP player before the session answers its play, so a refusal is the
// only status the player hears (admit.go).
func (h *Hub) AdmitPlay(sess *rtmp.Session) (rtmp.Hold, error) {
	adm, err := h.admitRTMP(sess, access.Play)
	if err != nil {
		return nil, err
	}
	return rtmpAdmission{adm}, nil
}

// rtmpAdmission is an RTMP player's admission from AdmitPlay to Play; adm
// is nil without a gate.
type rtmpAdmission struct{ adm *access.Admission }

// Done implements rtmp.Hold.
func (a rtmpAdmission) Done() { a.adm.Done() }

// Play implements rtmp.Handler: an RTMP player admitted by AdmitPlay
// enters through play, the same funnel as every other protocol's, in the
// RTMP format of its session's chunk size. A session that skipped
// AdmitPlay (a Handler wrapping the hub without it) is admitted here, as
// before the replies: never not at all.
func (h *Hub) Play(sess *rtmp.Session) (rtmp.Player, error) {
	a, ok := sess.PlayHold().(rtmpAdmission)
	if !ok {
		adm, err := h.admitRTMP(sess, access.Play)
		if err != nil {
			return nil, err
		}
		a.adm = adm
	}
	v := rtmpViewer(sess)
	p, err := h.play(&v, sess.Conn(), rtmpFormatOf(sess), sess, a.adm, nil)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return p, nil
}

// PlayConn attaches a player of another protocol (HTTP-FLV, WebSocket-FLV,
// …) that Admit admitted (adm) and whose connection the caller has taken
// over (hijacked): the transport writes head (the protocol's response, e.g.
// "HTTP/1.1 200 OK …") first, then f's wire log of the stream, to conn. The
// caller keeps reading conn unless the player's OwnsConn reports that the
// transport reads it (io_uring); input, if not nil, gets what the client
// sends in either case. The player releases adm when it goes; on an error
// adm is released and nothing was written to conn.
func (h *Hub) PlayConn(v *Viewer, conn net.Conn, f Format, head []byte, input Input, adm *access.Admission) (*Player, error) {
	return h.play(v, conn, f, nil, adm, func(p *Player) {
		p.input = input
		if len(head) > 0 {
			p.queueControl(head, false)
		}
	})
}

// play is the one way an admitted player of any protocol enters the hub: v
// describes it whatever its protocol. A player of a name nobody publishes
// yet waits for the publisher (up to -play-wait, then the grace). On an
// error adm is released.
func (h *Hub) play(v *Viewer, conn net.Conn, f Format, sess *rtmp.Session, adm *access.Admission, setup func(*Player)) (*Player, error) {
	release := h.Want(v.Key(), v.Query)
	p, err := h.attachViewer(v, conn, f, sess, adm, func(p *Player) {
		p.release = release
		if setup != nil {
			setup(p)
		}
	})
	if err != nil {
		release()
		adm.Done()
	}
	return p, err
}

// attachViewer adds an admitted player to its stream and its transport.
func (h *Hub) attachViewer(v *Viewer, conn net.Conn, f Format, sess *rtmp.Session, adm *access.Admission, setup func(*Player)) (*Player, error) {
	for range 2 { // a stream expiring right now is replaced once
		s := h.stream(v.Key())
		p := &Player{sess: sess, conn: conn, id: v.ID, waiting: true, joined: time.Now(), cookie: socketCookie(conn),
			protocol: v.Protocol, admission: adm}
		if sess == nil {
			p.log = h.logger.With(v.LogAttrs()...)
		}
		if setup != nil {
			setup(p)
		}
		err := s.addPlayer(p, f)
		if errors.Is(err, errStreamGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// A player without a session is logged as it starts here, before
		// its transport has it: the transport may end it, and log that, at
		// once (an RTMP session logs its own once Play returned).
		p.logStart()
		if err := h.transportFor(conn).Add(p); err != nil {
			s.removePlayer(p)
			p.logEnd("transport_refused", "err", err)
			return nil, err
		}
		if !s.Live() {
			h.logger.Debug("player waits for a publisher", "stream", s.key)
		}
		return p, nil
	}
	return nil, errStreamGone
}

// Stream returns the stream named key, or nil.
func (h *Hub) Stream(key string) *Stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streams[key]
}

// Streams returns the current streams sorted by key.
func (h *Hub) Streams() []*Stream {
	h.mu.Lock()
	out := make([]*Stream, 0, len(h.streams))
	for _, s := range h.streams {
		out = append(out, s)
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// LogStats writes the periodic one-line-per-stream summary, in the spirit
// of the original bbllive's "players live/c 30001".
func (h *Hub) LogStats() {
	for _, s := range h.Streams() {
		st := s.Stats()
		h.logger.Info(fmt.Sprintf("players %s %d", s.key, s.PlayerCount()),
			"live", s.Live(), "gop_bytes", s.GOPBytes(), "keyframes", st.Keyframes.Load(),
			"bytes_in", st.BytesIn.Load(), "bytes_out", st.BytesOut.Load(),
			"skips", st.Skips.Load(), "slow_drops", st.SlowDrops.Load())
	}
}

// Close stops the transport and the streams' grace timers; sessions are
// closed by the rtmp server (or by the transport, when it owns them).
func (h *Hub) Close() error {
	for _, s := range h.Streams() {
		s.mu.Lock()
		s.stopGrace()
		s.mu.Unlock()
	}
	h.closeConnWriter()
	return h.transport.Close()
}

// publisher is a publishing session's handle on its stream.
type publisher struct {
	s      *Stream
	sess   *rtmp.Session
	once   sync.Once
	cookie uint64    // SO_COOKIE of its socket, 0 if none
	since  time.Time // when it attached
	baseIn uint64    // the stream's BytesIn when it attached
	owned  bool      // the transport reads its connection (io_uring)
	start  func()
	src    *Source // set for a Source (source.go), whose sess is nil
	link   *link   // a Source's upstream connection, when it has one

	admission *access.Admission // access control's hold, released at Close
	kicked    atomic.Bool       // the control API asked it to go (kick.go)
	stop      func(clean bool)  // what Hub.OnPublish started for it (hooks.go)
	loss      publisherLoss
}

// OwnsConn tells the session whether the transport reads the publisher's
// connection itself.
func (p *publisher) OwnsConn() bool { return p.owned }

// TakeConn is called by the session once it stopped using the connection.
func (p *publisher) TakeConn() {
	if p.start != nil {
		p.start()
	}
}

func (p *publisher) WriteMessage(m *rtmp.Message) error {
	if p.kicked.Load() {
		return errKicked // ends the connection, whoever reads it (kick.go)
	}
	return p.s.ingest(m)
}

func (p *publisher) Close() error {
	p.end(false)
	return nil
}

// end lets go of the stream once, whichever of Close and Unpublish comes
// first; clean says the publisher stopped on purpose (publisher_loss.go).
func (p *publisher) end(clean bool) {
	p.once.Do(func() {
		p.loss.clean = clean
		p.s.detachPublisher(p)
		p.admission.Done()
		if p.stop != nil {
			p.stop(clean)
		}
	})
}
