package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// countingConn counts the bytes read from a connection, so that bytes the
// chunk reader buffered but did not parse still count as received.
type countingConn struct {
	net.Conn
	n atomic.Uint64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(uint64(n))
	return n, err
}

// session is a player connection after the command exchange: play has
// started and the stream's own messages follow.
type session struct {
	conn      *countingConn
	cr        *rtmp.ChunkReader
	cw        *rtmp.ChunkWriter
	hsBytes   uint64 // bytes of the handshake, not part of the chunk stream
	window    uint32 // the server's acknowledgement window
	acked     uint64 // chunk-stream bytes acknowledged so far
	connected time.Duration
	// firstMedia is when the first audio or video message of the stream
	// arrived, if it arrived during setup.
	firstMedia time.Time
	// check, if set, sees every message read, setup included.
	check *checker
}

// received is what the session has read from the chunk stream so far,
// including bytes still in the chunk reader's buffer.
func (s *session) received() uint64 { return s.conn.n.Load() - s.hsBytes }

// setupError carries the phase a player's setup failed in.
type setupError struct {
	phase string // dial, handshake, connect, createStream, play
	err   error
}

func (e *setupError) Error() string { return e.phase + ": " + e.err.Error() }
func (e *setupError) Unwrap() error { return e.err }

// startSession dials url and runs handshake, connect, createStream and play,
// all within timeout. It returns once NetStream.Play.Start arrived and the
// bytes already read behind it are parsed up to a message boundary (or the
// first media message, whichever comes first).
func startSession(ctx context.Context, rawURL string, timeout time.Duration, check *checker) (*session, error) {
	if IsHTTPURL(rawURL) {
		return startHTTPSession(ctx, rawURL, timeout)
	}
	addr, app, name, err := rtmp.ParseURL(rawURL)
	if err != nil {
		return nil, &setupError{"url", err}
	}
	start := time.Now()
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &setupError{"dial", err}
	}
	cc := &countingConn{Conn: c}
	c.SetDeadline(start.Add(timeout))
	s := &session{conn: cc, window: 2500000, check: check}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if err := s.exchange(app, name, "rtmp://"+addr+"/"+app, start); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return s, nil
}

func (s *session) exchange(app, name, tcURL string, start time.Time) error {
	if err := rtmp.ClientHandshake(s.conn); err != nil {
		return &setupError{"handshake", err}
	}
	s.hsBytes = s.conn.n.Load()
	s.cr = rtmp.NewChunkReader(s.conn, rtmp.DefaultLimits)
	s.cw = rtmp.NewChunkWriter(s.conn)
	obj := rtmp.Object{
		{Key: "app", Value: app},
		{Key: "flashVer", Value: "LNX 9,0,124,2"},
		{Key: "tcUrl", Value: tcURL},
		{Key: "fpad", Value: false},
		{Key: "capabilities", Value: 15.0},
		{Key: "audioCodecs", Value: 4071.0},
		{Key: "videoCodecs", Value: 252.0},
		{Key: "videoFunction", Value: 1.0},
	}
	if _, err := s.call(1, "connect", obj); err != nil {
		return &setupError{"connect", err}
	}
	s.connected = time.Since(start)
	res, err := s.call(2, "createStream", nil)
	if err != nil {
		return &setupError{"createStream", err}
	}
	sid, ok := res.NumberArg(0)
	if !ok {
		return &setupError{"createStream", errors.New("no stream id in the reply")}
	}
	if err := s.cw.WriteUserControl(rtmp.UserSetBufferLength, uint32(sid), 1000); err != nil {
		return &setupError{"play", err}
	}
	body, _ := rtmp.AppendCommandMessage(nil, "play", 0, nil, name, -2.0)
	if err := s.cw.WriteMessage(&rtmp.Message{Type: rtmp.TypeCommandAMF0, CSID: 8, StreamID: uint32(sid), Payload: body}); err != nil {
		return &setupError{"play", err}
	}
	if err := s.cw.Flush(); err != nil {
		return &setupError{"play", err}
	}
	if err := s.awaitPlayStart(); err != nil {
		return &setupError{"play", err}
	}
	return s.drainBuffered()
}

// call sends a command with transaction id tx and waits for its _result.
func (s *session) call(tx float64, name string, obj any) (*rtmp.Command, error) {
	body, err := rtmp.AppendCommandMessage(nil, name, tx, obj)
	if err != nil {
		return nil, err
	}
	if err := s.cw.WriteMessage(&rtmp.Message{Type: rtmp.TypeCommandAMF0, CSID: rtmp.CSIDCommand, Payload: body}); err != nil {
		return nil, err
	}
	if err := s.cw.Flush(); err != nil {
		return nil, err
	}
	for {
		cmd, err := s.nextCommand()
		if err != nil {
			return nil, err
		}
		if cmd.TxID != tx {
			continue
		}
		switch cmd.Name {
		case "_result":
			return cmd, nil
		case "_error":
			return nil, fmt.Errorf("refused: %s", statusCode(cmd))
		}
	}
}

// awaitPlayStart waits for NetStream.Play.Start; an error-level status
// fails.
func (s *session) awaitPlayStart() error {
	for {
		cmd, err := s.nextCommand()
		if err != nil {
			return err
		}
		if cmd.Name != "onStatus" {
			continue
		}
		code := statusCode(cmd)
		if code == rtmp.CodePlayStart {
			return nil
		}
		if o, ok := statusObject(cmd); ok && o.String("level") == "error" {
			return fmt.Errorf("refused: %s", code)
		}
	}
}

// nextCommand reads messages, keeping the protocol alive, until a command.
func (s *session) nextCommand() (*rtmp.Command, error) {
	for {
		m, err := s.read()
		if err != nil {
			return nil, err
		}
		if m.Type == rtmp.TypeCommandAMF0 || m.Type == rtmp.TypeCommandAMF3 {
			return rtmp.ParseCommand(m.Type, m.Payload)
		}
	}
}

// read returns the next message after housekeeping: the window, pings and
// acknowledgements.
func (s *session) read() (*rtmp.Message, error) {
	m, err := s.cr.ReadMessage()
	if err != nil {
		return nil, err
	}
	if err := s.housekeep(m); err != nil {
		return nil, err
	}
	if s.check != nil {
		s.check.check(m)
	}
	return m, nil
}

func (s *session) housekeep(m *rtmp.Message) error {
	switch m.Type {
	case rtmp.TypeWindowAckSize:
		if n, err := rtmp.ParseUint32(m.Payload); err == nil && n > 0 {
			s.window = n
		}
	case rtmp.TypeUserControl:
		if ev, a, _, err := rtmp.ParseUserControl(m.Payload); err == nil && ev == rtmp.UserPingRequest {
			if err := s.cw.WriteUserControl(rtmp.UserPingResponse, a); err != nil {
				return err
			}
			return s.cw.Flush()
		}
	}
	if n := s.cr.BytesRead(); n-s.acked >= uint64(s.window) {
		s.acked = n
		if err := s.cw.WriteAck(uint32(n)); err != nil {
			return err
		}
		return s.cw.Flush()
	}
	return nil
}

// drainBuffered parses what the reader already holds beyond Play.Start,
// stopping at the first media message, so that a fast-mode player hands
// over its socket knowing whether the first frame has arrived.
func (s *session) drainBuffered() error {
	for s.received() > s.cr.BytesRead() {
		m, err := s.read()
		if err != nil {
			return &setupError{"play", err}
		}
		if isMedia(m.Type) {
			s.firstMedia = time.Now()
			return nil
		}
	}
	return nil
}

// isMedia reports the message types that count as a frame for
// time-to-first-frame: audio and video, not the data messages of the play
// exchange (|RtmpSampleAccess, onStatus) nor metadata.
func isMedia(t uint8) bool {
	return t == rtmp.TypeAudio || t == rtmp.TypeVideo
}

func statusObject(cmd *rtmp.Command) (rtmp.Object, bool) {
	for _, a := range cmd.Args {
		if o, ok := a.(rtmp.Object); ok {
			return o, true
		}
	}
	return nil, false
}

func statusCode(cmd *rtmp.Command) string {
	if o, ok := statusObject(cmd); ok {
		return o.String("code")
	}
	return ""
}

// Reason turns an error into a short, stable token for the errors-by-reason
// table: the setup phase (when known) and the kind, e.g. "dial/refused",
// "play/timeout", "read/reset", "play/refused: NetStream.Play.StreamNotFound".
func Reason(err error) string {
	phase := "read"
	var se *setupError
	if errors.As(err, &se) {
		phase = se.phase
	}
	return phase + "/" + kind(err)
}

func kind(err error) string {
	var pe *rtmp.ProtocolError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		return pe.Reason
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too_many_files"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no_ports"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	msg := err.Error()
	var se *setupError
	if errors.As(err, &se) {
		msg = se.err.Error()
	}
	if len(msg) > 60 {
		msg = msg[:60]
	}
	return msg
}
