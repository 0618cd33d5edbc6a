package rtmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// MediaStreamID is the message stream id of every stream the server creates
// and plays. One fixed id is what lets a player's media bytes be identical
// for every player.
const MediaStreamID = 1

// Role is what a session does once its command exchange is over.
type Role int

// The roles of a session.
const (
	RoleNone Role = iota
	RolePublisher
	RolePlayer
)

func (r Role) String() string {
	switch r {
	case RolePublisher:
		return "publisher"
	case RolePlayer:
		return "player"
	}
	return "none"
}

// Session is one client connection on the server side.
type Session struct {
	// ID is unique per server process.
	ID uint64

	// App is the application name from connect ("live" in rtmp://h/live/x).
	App string
	// Name is the stream name from publish or play, without its query.
	Name string
	// Query is what followed '?' in the stream name (tokens and the like).
	Query string
	// TCURL and FlashVer are what the client said in connect.
	TCURL, FlashVer string
	// PlayReset is the reset flag of play (true when absent).
	PlayReset bool

	conn      net.Conn
	srv       *Server
	log       *slog.Logger
	cr        *ChunkReader
	cw        *ChunkWriter
	connected bool
	role      atomic.Int32
	publisher Publisher
	player    Player
	hold      Hold // a PlayAdmitter's, until Handler.Play takes it
	shutdown  atomic.Bool
	shaken    atomic.Bool // handshake completed
	handedOff atomic.Bool // a ConnOwner took the connection
	owner     ConnOwner
	finished  atomic.Bool
	reason    atomic.Pointer[string] // why the handler closed it, if it did

	objectEncoding float64
	peerWindow     uint32
	lastAck        uint64
	deadlineSet    time.Time
}

// Conn is the session's connection. After Handler.Play returns, the handler
// owns writing to it.
func (s *Session) Conn() net.Conn { return s.conn }

// Key names the stream the session publishes or plays: "app/name".
func (s *Session) Key() string { return s.App + "/" + s.Name }

// logProtocol is the protocol attribute of a session's "playing" and
// "session closed" lines: players of other protocols log those lines too,
// with their own (fanout.Viewer.LogAttrs), so one grep finds every player.
const logProtocol = "rtmp"

// Logger carries the session's id, peer and stream.
func (s *Session) Logger() *slog.Logger { return s.log }

// Role is what the session does now.
func (s *Session) Role() Role { return Role(s.role.Load()) }

// Handshaken reports whether the session got past the handshake, which
// tells a handshake failure from a command-phase one.
func (s *Session) Handshaken() bool { return s.shaken.Load() }

// ChunkSize is the outbound chunk size the server announced to this client.
func (s *Session) ChunkSize() uint32 { return s.srv.ChunkSize }

// errRefused ends a session whose request the handler turned down; the
// reason has been logged and replied already.
type refusedError struct{ reason string }

func (e *refusedError) Error() string { return "rtmp: refused: " + e.reason }

func (s *Session) serve() error {
	srv := s.srv
	if err := s.conn.SetDeadline(time.Now().Add(srv.HandshakeTimeout)); err != nil {
		return err
	}
	if err := ServerHandshake(s.conn); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return &ProtocolError{Reason: "handshake_timeout", Detail: fmt.Sprintf("no complete handshake within %v", srv.HandshakeTimeout)}
		}
		return err
	}
	s.shaken.Store(true)
	s.conn.SetWriteDeadline(time.Time{})
	s.cr = NewChunkReader(s.conn, srv.Limits)
	s.cw = NewChunkWriter(s.conn)
	s.peerWindow = srv.WindowAckSize
	for {
		s.refreshReadDeadline()
		m, err := s.cr.ReadMessage()
		if err != nil {
			return s.readError(err)
		}
		if err := s.handle(m); err != nil {
			return err
		}
		if s.handedOff.Load() {
			return errHandedOff
		}
	}
}

// errHandedOff ends a session goroutine whose connection a ConnOwner took.
var errHandedOff = errors.New("rtmp: connection handed off")

// DetachInput gives a ConnOwner the session's input: a parser continuing
// exactly where the session's reader stopped, and bytes already received
// but not yet parsed (feed them first). Call it from Handler.Play, before
// taking the connection's reads.
func (s *Session) DetachInput() (*ChunkParser, []byte) {
	return s.cr.Detach()
}

// Input hands the session a message its ConnOwner received, so that a
// connection's input gets the same treatment whoever reads it: closeStream
// and deleteStream stop the player, commands out of order are errors. The
// session writes nothing to a playing connection; an error means the
// connection should end with it.
func (s *Session) Input(m *Message) error { return s.handle(m) }

// SetOutput makes the session write its own messages (acknowledgements,
// command replies) to w from now on: a ConnOwner that moved the
// connection to another descriptor passes it here.
func (s *Session) SetOutput(w io.Writer) {
	if s.cw != nil {
		s.cw.SetOutput(w)
	}
}

// CloseReason records why the handler is closing the connection ("slow",
// "no_publisher", …), so that the session's end is logged and counted
// with it rather than as the end of file that follows.
func (s *Session) CloseReason(reason string) { s.reason.Store(&reason) }

// refreshReadDeadline extends the idle deadline, at most once per refresh
// step so a publisher's hot read loop does not reset a timer per message.
// Players are exempt: they may legitimately stay silent; the fan-out
// watches them.
//
// The deadline lies IdleTimeout plus one step ahead: the last refresh may be
// up to a step old when the next read starts waiting, so without the extra
// step a peer sending steadily was timed out whenever IdleTimeout was not
// well above the step (with -idle-timeout 1s a publisher sending every
// 23 ms was dropped after a second or two). Silence is thus detected after
// between IdleTimeout and IdleTimeout+step, never sooner.
func (s *Session) refreshReadDeadline() {
	if s.Role() == RolePlayer {
		if !s.deadlineSet.IsZero() {
			s.conn.SetReadDeadline(time.Time{})
			s.deadlineSet = time.Time{}
		}
		return
	}
	now := time.Now()
	step := min(time.Second, s.srv.IdleTimeout/4)
	if now.Sub(s.deadlineSet) < step {
		return
	}
	s.deadlineSet = now
	s.conn.SetReadDeadline(now.Add(s.srv.IdleTimeout + step))
}

func (s *Session) readError(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if !s.connected {
			return &ProtocolError{Reason: "handshake_timeout", Detail: "no connect command in time"}
		}
		return &ProtocolError{Reason: "idle_timeout", Detail: fmt.Sprintf("nothing received for %v", s.srv.IdleTimeout)}
	}
	return err
}

func (s *Session) handle(m *Message) error {
	switch m.Type {
	case TypeAudio, TypeVideo, TypeDataAMF0:
		return s.media(m)
	case TypeDataAMF3:
		if len(m.Payload) > 0 {
			m.Payload = m.Payload[1:] // format byte, then AMF0
		}
		m.Type = TypeDataAMF0
		return s.media(m)
	case TypeAggregate:
		return s.aggregate(m)
	case TypeCommandAMF0, TypeCommandAMF3:
		c, err := ParseCommand(m.Type, m.Payload)
		if err != nil {
			return err
		}
		return s.command(c)
	case TypeWindowAckSize:
		n, err := ParseUint32(m.Payload)
		if err != nil {
			return err
		}
		if n > 0 {
			s.peerWindow = n
		}
	case TypeUserControl:
		return s.userControl(m)
	}
	return nil
}

func (s *Session) userControl(m *Message) error {
	ev, a, _, err := ParseUserControl(m.Payload)
	if err != nil {
		return err
	}
	if ev == UserPingRequest && s.Role() != RolePlayer {
		if err := s.cw.WriteUserControl(UserPingResponse, a); err != nil {
			return err
		}
		return s.cw.Flush()
	}
	return nil
}

func (s *Session) media(m *Message) error {
	if s.publisher == nil {
		// Media from a non-publisher (or after unpublish) has nowhere to go.
		return nil
	}
	if err := s.publisher.WriteMessage(m); err != nil {
		return err
	}
	return s.maybeAck()
}

// maybeAck acknowledges received bytes once per window, as the peer asked.
func (s *Session) maybeAck() error {
	n := s.cr.BytesRead()
	if n-s.lastAck < uint64(s.peerWindow) {
		return nil
	}
	s.lastAck = n
	if err := s.cw.WriteAck(uint32(n)); err != nil {
		return err
	}
	return s.cw.Flush()
}

// aggregate splits an aggregate message (FLV tags back to back) into its
// audio, video and data messages, re-based on the aggregate's timestamp.
func (s *Session) aggregate(m *Message) error {
	p := m.Payload
	var base uint32
	first := true
	for len(p) > 0 {
		if len(p) < 11 {
			return protoErr("bad_aggregate", "%d trailing bytes", len(p))
		}
		size := int(p[1])<<16 | int(p[2])<<8 | int(p[3])
		ts := uint32(p[7])<<24 | uint32(p[4])<<16 | uint32(p[5])<<8 | uint32(p[6])
		if len(p) < 11+size+4 {
			return protoErr("bad_aggregate", "tag of %d bytes overruns the message", size)
		}
		if first {
			base, first = ts, false
		}
		sub := Message{Type: p[0], StreamID: m.StreamID, CSID: m.CSID,
			Timestamp: m.Timestamp + (ts - base), Payload: p[11 : 11+size]}
		switch sub.Type {
		case TypeAudio, TypeVideo, TypeDataAMF0:
			if err := s.media(&sub); err != nil {
				return err
			}
		}
		p = p[11+size+4:]
	}
	return nil
}

func (s *Session) command(c *Command) error {
	if c.Name != "connect" && !s.connected {
		switch c.Name {
		case "_result", "_error", "onBWDone", "_checkbw":
			return nil
		}
		return protoErr("command_order", "%q before connect", c.Name)
	}
	switch c.Name {
	case "connect":
		return s.onConnect(c)
	case "releaseStream", "FCPublish":
		return s.reply(c, nil, Undefined{})
	case "getStreamLength":
		return s.reply(c, nil, 0.0) // live: no length; ffmpeg wants a number
	case "createStream":
		return s.reply(c, nil, float64(MediaStreamID))
	case "publish":
		return s.onPublish(c)
	case "play":
		return s.onPlay(c)
	case "FCUnpublish", "deleteStream", "closeStream":
		return s.onStop(c)
	}
	s.log.Debug("ignoring command", "command", c.Name)
	return nil
}

func (s *Session) reply(c *Command, vals ...any) error {
	if c.TxID == 0 || s.Role() == RolePlayer {
		return nil // no answer expected, or no longer ours to write
	}
	return s.writeCommand(CSIDCommand, 0, "_result", c.TxID, vals...)
}

func (s *Session) writeCommand(csid, streamID uint32, name string, txID float64, vals ...any) error {
	body, err := AppendCommandMessage(nil, name, txID, vals...)
	if err != nil {
		return err
	}
	if err := s.cw.WriteMessage(&Message{Type: TypeCommandAMF0, CSID: csid, StreamID: streamID, Payload: body}); err != nil {
		return err
	}
	return s.cw.Flush()
}

func (s *Session) onStatus(level, code, desc string) error {
	return s.writeCommand(CSIDData, MediaStreamID, "onStatus", 0, nil, StatusObject(level, code, desc))
}

func (s *Session) onConnect(c *Command) error {
	if s.connected {
		return protoErr("command_order", "second connect")
	}
	o, _ := c.Object.(Object)
	app, _, _ := strings.Cut(o.String("app"), "?")
	s.App = strings.Trim(app, "/")
	s.TCURL = o.String("tcUrl")
	s.FlashVer = o.String("flashVer")
	s.objectEncoding = o.Number("objectEncoding")
	s.connected = true
	s.log = s.log.With("app", s.App)
	cw := s.cw
	if err := cw.WriteWindowAckSize(s.srv.WindowAckSize); err != nil {
		return err
	}
	if err := cw.WriteSetPeerBandwidth(s.srv.WindowAckSize, PeerBandwidthDynamic); err != nil {
		return err
	}
	if err := cw.SetChunkSize(s.srv.ChunkSize); err != nil {
		return err
	}
	props := Object{{Key: "fmsVer", Value: "FMS/3,5,7,7009"}, {Key: "capabilities", Value: 31.0}, {Key: "mode", Value: 1.0}}
	info := append(StatusObject("status", CodeConnectSuccess, "Connection succeeded."),
		Property{Key: "objectEncoding", Value: s.objectEncoding})
	return s.writeCommand(CSIDCommand, 0, "_result", c.TxID, props, info)
}

func (s *Session) streamName(c *Command) error {
	name, query := SplitStreamName(c.StringArg(0))
	if name == "" {
		return protoErr("bad_command", "%s without a stream name", c.Name)
	}
	s.Name, s.Query = name, query
	s.log = s.log.With("stream", s.Key())
	return nil
}

func (s *Session) onPublish(c *Command) error {
	if s.Role() != RoleNone {
		return protoErr("command_order", "publish while %s", s.Role())
	}
	if err := s.streamName(c); err != nil {
		return err
	}
	pub, err := s.srv.Handler.Publish(s)
	if err != nil {
		s.log.Warn("publish refused", "reason", err)
		s.onStatus("error", refusalCode(err, CodePublishBadName), err.Error())
		return &refusedError{reason: "publish_refused"}
	}
	s.publisher = pub
	s.role.Store(int32(RolePublisher))
	if err := s.cw.WriteUserControl(UserStreamBegin, MediaStreamID); err != nil {
		return err
	}
	s.log.Info("publishing")
	if err := s.onStatus("status", CodePublishStart, s.Name+" is now published."); err != nil {
		return err
	}
	s.handOffTo(pub)
	return nil
}

func (s *Session) onPlay(c *Command) error {
	if s.Role() != RoleNone {
		return protoErr("command_order", "play while %s", s.Role())
	}
	if err := s.streamName(c); err != nil {
		return err
	}
	s.PlayReset = true
	if r, ok := c.BoolArg(3); ok {
		s.PlayReset = r
	}
	if pa, ok := s.srv.Handler.(PlayAdmitter); ok {
		hold, err := pa.AdmitPlay(s)
		if err != nil {
			return s.refusePlay(err)
		}
		s.hold = hold
	}
	if err := s.cw.WriteUserControl(UserStreamIsRecorded, MediaStreamID); err != nil {
		return err
	}
	if err := s.cw.WriteUserControl(UserStreamBegin, MediaStreamID); err != nil {
		return err
	}
	if s.PlayReset {
		if err := s.onStatus("status", CodePlayReset, "Playing and resetting "+s.Name+"."); err != nil {
			return err
		}
	}
	if err := s.onStatus("status", CodePlayStart, "Started playing "+s.Name+"."); err != nil {
		return err
	}
	// |RtmpSampleAccess at time 0 is what nginx-rtmp sends, and FLV
	// demuxers take it for metadata. No NetStream.Data.Start: sent as a
	// data message (type 18), libavformat's FLV demuxer knows no
	// "onStatus" script tag and opened a "Data: none" stream for it,
	// which made `ffmpeg -c copy` to MKV wait forever for its first packet.
	access, _ := AppendAMF0(nil, "|RtmpSampleAccess", true, true)
	if err := s.cw.WriteMessage(&Message{Type: TypeDataAMF0, CSID: CSIDData, StreamID: MediaStreamID, Payload: access}); err != nil {
		return err
	}
	if err := s.cw.Flush(); err != nil {
		return err
	}
	s.role.Store(int32(RolePlayer))
	p, err := s.srv.Handler.Play(s)
	s.hold = nil // Play took it, even when it refused
	if err != nil {
		s.role.Store(int32(RoleNone))
		return s.refusePlay(err)
	}
	s.player = p
	s.log.Info("playing", "protocol", logProtocol)
	s.handOffTo(p)
	return nil
}

// refusePlay answers a refused play with its status and ends the session.
func (s *Session) refusePlay(err error) error {
	s.log.Warn("play refused", "reason", err)
	s.onStatus("error", refusalCode(err, CodePlayStreamNotFound), err.Error())
	return &refusedError{reason: "play_refused"}
}

// PlayHold is the hold the Handler's AdmitPlay returned for this play (nil
// without one); Handler.Play takes it over and must release it, also when
// it refuses the play.
func (s *Session) PlayHold() Hold { return s.hold }

// refusalCode is the onStatus code a handler's refusal asks for (an error
// with a StatusCode method, such as an access refusal's
// NetStream.Play.Failed), else def.
func refusalCode(err error, def string) string {
	var sc interface{ StatusCode() string }
	if errors.As(err, &sc) {
		return sc.StatusCode()
	}
	return def
}

// NotFound answers a play the handler accepted but cannot serve after all —
// nobody published the name in time — with NetStream.Play.StreamNotFound,
// and records why the connection is about to end. The handler calls it
// from any goroutine, but only while nothing else writes to the
// connection: the session itself writes nothing to a playing one.
func (s *Session) NotFound(err error) error {
	s.log.Info("play refused", "reason", err)
	s.CloseReason("stream_not_found")
	return s.onStatus("error", CodePlayStreamNotFound, err.Error())
}

// handOffTo ends the session's reading if the handler's object owns the
// connection.
func (s *Session) handOffTo(v any) {
	if o, ok := v.(ConnOwner); ok && o.OwnsConn() {
		s.owner = o
		s.handedOff.Store(true)
	}
}

func (s *Session) onStop(c *Command) error {
	switch s.Role() {
	case RolePublisher:
		if u, ok := s.publisher.(Unpublisher); ok {
			u.Unpublish()
		} else {
			s.publisher.Close()
		}
		s.publisher = nil
		s.role.Store(int32(RoleNone))
		s.log.Info("unpublished", "by", c.Name)
		if c.Name == "FCUnpublish" {
			return s.reply(c, nil, Undefined{})
		}
		return s.onStatus("status", CodeUnpublishSuccess, s.Name+" is now unpublished.")
	case RolePlayer:
		if c.Name == "FCUnpublish" {
			return nil
		}
		// The handler owns the write side; stopping delivery is all we may do.
		s.player.Close()
		s.player = nil
		s.log.Info("stopped playing", "by", c.Name)
		return nil
	}
	return nil
}

// Finish ends the session: it releases what the session holds, closes the
// connection, logs why and reports it to Server.OnSessionEnd. The server
// calls it when the session goroutine ends; a ConnOwner calls it when the
// connection it took ends. Later calls do nothing.
func (s *Session) Finish(err error) {
	if s.finished.Swap(true) {
		return
	}
	s.end(err)
	s.srv.mu.Lock()
	delete(s.srv.sessions, s)
	s.srv.mu.Unlock()
}

// end releases what the session holds and logs why it ended.
func (s *Session) end(err error) {
	if s.publisher != nil {
		s.publisher.Close()
		s.publisher = nil
	}
	if s.player != nil {
		s.player.Close()
		s.player = nil
	}
	if s.hold != nil { // admitted, but the play replies failed before Play
		s.hold.Done()
		s.hold = nil
	}
	s.conn.Close()
	reason := ReasonOf(err)
	var re *refusedError
	switch {
	case s.shutdown.Load():
		reason = "shutdown"
	case errors.As(err, &re):
		reason = re.reason
	case s.reason.Load() != nil:
		reason = *s.reason.Load()
	}
	level := slog.LevelInfo
	var pe *ProtocolError
	if errors.As(err, &pe) {
		level = slog.LevelWarn
	}
	if err != nil && level == slog.LevelWarn {
		s.log.Log(context.Background(), level, "session closed", "protocol", logProtocol, "reason", reason, "err", err.Error())
	} else {
		s.log.Log(context.Background(), level, "session closed", "protocol", logProtocol, "reason", reason)
	}
	if s.srv.OnSessionEnd != nil {
		s.srv.OnSessionEnd(s, reason)
	}
}
