package rtmp

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Client is the client side of an RTMP connection: enough to publish and to
// play, for tests, the load generator and the publisher emulator.
type Client struct {
	conn     net.Conn
	cr       *ChunkReader
	cw       *ChunkWriter
	app      string
	name     string
	tcURL    string
	txID     float64
	streamID uint32
	window   uint32
	acked    uint64
	// wmu serializes writes once publishing: WriteMessage and Flush on one
	// goroutine may run beside ReadMessage's pings and acknowledgements on
	// another.
	wmu sync.Mutex
	// Timeout bounds each wait for a reply (default 10 s).
	Timeout time.Duration
}

// NewClient wraps an established connection; call Connect next.
func NewClient(conn net.Conn, app, name, tcURL string) *Client {
	return &Client{conn: conn, app: app, name: name, tcURL: tcURL, window: 2500000, Timeout: 10 * time.Second}
}

// Conn is the client's connection.
func (c *Client) Conn() net.Conn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Connect runs the handshake and the connect command.
func (c *Client) Connect() error {
	if err := ClientHandshake(c.conn); err != nil {
		return err
	}
	c.cr = NewChunkReader(c.conn, DefaultLimits)
	c.cw = NewChunkWriter(c.conn)
	if err := c.cw.SetChunkSize(4096); err != nil {
		return err
	}
	obj := Object{
		{Key: "app", Value: c.app},
		{Key: "flashVer", Value: "FMLE/3.0 (compatible; bbllive)"},
		{Key: "tcUrl", Value: c.tcURL},
		{Key: "fpad", Value: false},
		{Key: "capabilities", Value: 15.0},
		{Key: "audioCodecs", Value: 4071.0},
		{Key: "videoCodecs", Value: 252.0},
		{Key: "videoFunction", Value: 1.0},
	}
	res, err := c.call("connect", obj)
	if err != nil {
		return err
	}
	if code := statusCode(res); code != CodeConnectSuccess {
		return fmt.Errorf("rtmp: connect refused: %s", code)
	}
	return nil
}

// Publish announces the stream for publishing and waits for
// NetStream.Publish.Start.
func (c *Client) Publish() error {
	c.send("releaseStream", nil, c.name)
	c.send("FCPublish", nil, c.name)
	if err := c.createStream(); err != nil {
		return err
	}
	if err := c.streamCommand("publish", c.name, "live"); err != nil {
		return err
	}
	return c.waitStatus(CodePublishStart)
}

// Unpublish ends a publish on purpose, as an encoder's stop does:
// FCUnpublish and deleteStream, flushed. The server ends the stream at
// once (its players are told) rather than treating the publisher as lost.
// It does not wait for the replies; close the connection after.
func (c *Client) Unpublish() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.send("FCUnpublish", nil, c.name); err != nil {
		return err
	}
	_, err := c.send("deleteStream", nil, float64(c.streamID))
	return err
}

// Play asks for the stream and waits for NetStream.Play.Start.
func (c *Client) Play() error {
	if err := c.createStream(); err != nil {
		return err
	}
	if err := c.cw.WriteUserControl(UserSetBufferLength, c.streamID, 1000); err != nil {
		return err
	}
	if err := c.streamCommand("play", c.name, -2.0); err != nil {
		return err
	}
	return c.waitStatus(CodePlayStart)
}

// WriteMessage sends a media or data message on the published stream.
func (c *Client) WriteMessage(m *Message) error {
	m.StreamID = c.streamID
	if m.CSID == 0 {
		switch m.Type {
		case TypeAudio:
			m.CSID = CSIDAudio
		case TypeVideo:
			m.CSID = CSIDVideo
		default:
			m.CSID = CSIDData
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.cw.WriteMessage(m)
}

// Flush sends what WriteMessage buffered.
func (c *Client) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.cw.Flush()
}

// ReadMessage returns the next message from the server, answering pings
// and acknowledging received bytes on the way. The payload is valid until
// the next call.
func (c *Client) ReadMessage() (*Message, error) {
	for {
		m, err := c.cr.ReadMessage()
		if err != nil {
			return nil, err
		}
		if err := c.housekeep(m); err != nil {
			return nil, err
		}
		if m.Type != TypeSetChunkSize && m.Type != TypeWindowAckSize && m.Type != TypeSetPeerBandwidth && m.Type != TypeAck {
			return m, nil
		}
	}
}

// BytesRead is what the client has received since the handshake.
func (c *Client) BytesRead() uint64 { return c.cr.BytesRead() }

// housekeep answers pings and acknowledges; it writes under wmu because a
// publisher may read on one goroutine while it writes media on another.
func (c *Client) housekeep(m *Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	switch m.Type {
	case TypeWindowAckSize:
		if n, err := ParseUint32(m.Payload); err == nil && n > 0 {
			c.window = n
		}
	case TypeUserControl:
		ev, a, _, err := ParseUserControl(m.Payload)
		if err == nil && ev == UserPingRequest {
			if err := c.cw.WriteUserControl(UserPingResponse, a); err != nil {
				return err
			}
			return c.cw.Flush()
		}
	}
	if n := c.cr.BytesRead(); n-c.acked >= uint64(c.window) {
		c.acked = n
		if err := c.cw.WriteAck(uint32(n)); err != nil {
			return err
		}
		return c.cw.Flush()
	}
	return nil
}

func (c *Client) createStream() error {
	res, err := c.call("createStream", nil)
	if err != nil {
		return err
	}
	if len(res.Args) == 0 {
		return fmt.Errorf("rtmp: createStream: no stream id in reply")
	}
	id, ok := res.Args[0].(float64)
	if !ok {
		return fmt.Errorf("rtmp: createStream: stream id is %T", res.Args[0])
	}
	c.streamID = uint32(id)
	return nil
}

func (c *Client) send(name string, obj any, args ...any) (float64, error) {
	c.txID++
	body, err := AppendCommandMessage(nil, name, c.txID, append([]any{obj}, args...)...)
	if err != nil {
		return 0, err
	}
	if err := c.cw.WriteMessage(&Message{Type: TypeCommandAMF0, CSID: CSIDCommand, Payload: body}); err != nil {
		return 0, err
	}
	return c.txID, c.cw.Flush()
}

func (c *Client) streamCommand(name string, args ...any) error {
	body, err := AppendCommandMessage(nil, name, 0, append([]any{nil}, args...)...)
	if err != nil {
		return err
	}
	if err := c.cw.WriteMessage(&Message{Type: TypeCommandAMF0, CSID: CSIDData, StreamID: c.streamID, Payload: body}); err != nil {
		return err
	}
	return c.cw.Flush()
}

// call sends a command and waits for its _result or _error.
func (c *Client) call(name string, obj any, args ...any) (*Command, error) {
	tx, err := c.send(name, obj, args...)
	if err != nil {
		return nil, err
	}
	return c.await(func(cmd *Command) (bool, error) {
		if cmd.TxID != tx {
			return false, nil
		}
		if cmd.Name == "_error" {
			return true, fmt.Errorf("rtmp: %s failed: %s", name, statusCode(cmd))
		}
		return cmd.Name == "_result", nil
	})
}

func (c *Client) waitStatus(code string) error {
	_, err := c.await(func(cmd *Command) (bool, error) {
		if cmd.Name != "onStatus" {
			return false, nil
		}
		got := statusCode(cmd)
		if got == code {
			return true, nil
		}
		if o, ok := statusObject(cmd); ok && o.String("level") == "error" {
			return true, fmt.Errorf("rtmp: %s (%s)", got, o.String("description"))
		}
		return false, nil
	})
	return err
}

func (c *Client) await(match func(*Command) (bool, error)) (*Command, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.Timeout))
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		m, err := c.ReadMessage()
		if err != nil {
			return nil, err
		}
		if m.Type != TypeCommandAMF0 && m.Type != TypeCommandAMF3 {
			continue
		}
		cmd, err := ParseCommand(m.Type, m.Payload)
		if err != nil {
			return nil, err
		}
		if done, err := match(cmd); done || err != nil {
			return cmd, err
		}
	}
}

// statusObject finds the info object of a reply: the first Object argument.
func statusObject(cmd *Command) (Object, bool) {
	for _, a := range cmd.Args {
		if o, ok := a.(Object); ok {
			return o, true
		}
	}
	return nil, false
}

func statusCode(cmd *Command) string { return cmd.StatusCode() }
