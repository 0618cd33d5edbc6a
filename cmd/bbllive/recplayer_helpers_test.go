package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/bbllive/bbllive/bench/flv"
	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/websocket"
	"github.com/bbllive/bbllive/rtmp"
)

// A recording player (recPlayer) plays over one of these protocols
// (recOpts.proto; "" is RTMP). Over HTTP-FLV and WebSocket-FLV it turns
// the FLV tags it reads back into the messages an RTMP player would get,
// so one set of checks covers every format.
var recProtocols = []string{fanout.ProtocolRTMP, fanout.ProtocolHTTPFLV, fanout.ProtocolWSFLV}

// rcvBufDialer dials with SO_RCVBUF set before the connection is made, so
// the window it announces is small from the start (0 keeps the default).
func rcvBufDialer(rcvBuf int) *net.Dialer {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if rcvBuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	return d
}

// dialRecPlayer connects a player of name over o.proto. An RTMP player has
// played when it returns (c is its client); an HTTP one has sent its
// request, whose answer comes once the stream is live, so next reads it
// first. next returns the player's messages in order.
func dialRecPlayer(srv *testServer, name string, o recOpts) (conn net.Conn, c *rtmp.Client, next func() (*rtmp.Message, error), err error) {
	switch o.proto {
	case "", fanout.ProtocolRTMP:
		c, err := dialPlayer(srv, name, o.rcvBuf)
		if err != nil {
			return nil, nil, nil, err
		}
		return c.Conn(), c, c.ReadMessage, nil
	case fanout.ProtocolHTTPFLV, fanout.ProtocolWSFLV:
	default:
		return nil, nil, nil, fmt.Errorf("recording player: unknown protocol %q", o.proto)
	}
	conn, err = rcvBufDialer(o.rcvBuf).Dial("tcp", srv.http)
	if err != nil {
		return nil, nil, nil, err
	}
	path := "/live/" + name + ".flv"
	if o.proto == fanout.ProtocolWSFLV {
		err = writeWSRequest(conn, srv.http, path)
	} else {
		_, err = fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, srv.http)
	}
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	src := &flvSource{conn: conn, ws: o.proto == fanout.ProtocolWSFLV}
	return conn, nil, src.next, nil
}

// flvSource reads an HTTP-FLV or WebSocket-FLV answer as RTMP messages.
type flvSource struct {
	conn net.Conn
	ws   bool
	fr   *flv.Reader
	msg  rtmp.Message
}

// next returns the next tag as a message, valid until the next call; the
// server closing the connection between two tags is io.EOF.
func (s *flvSource) next() (*rtmp.Message, error) {
	if s.fr == nil {
		if err := s.open(); err != nil {
			return nil, err
		}
	}
	tag, err := s.fr.Next()
	if err != nil {
		return nil, err
	}
	s.msg = rtmp.Message{Type: tag.Type, Timestamp: tag.Timestamp, Payload: tag.Data}
	return &s.msg, nil
}

// open reads the answer's head and the FLV header.
func (s *flvSource) open() error {
	br := bufio.NewReader(s.conn)
	var body io.Reader
	if s.ws {
		if err := readWSAccept(br); err != nil {
			return err
		}
		body = &wsPayloads{w: &wsClient{c: s.conn, br: br}}
	} else {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("http-flv answer: %w", err)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/x-flv" {
			resp.Body.Close()
			return fmt.Errorf("http-flv answer: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
		}
		body = resp.Body
	}
	fr, err := flv.NewReader(body)
	if err != nil {
		return err
	}
	s.fr = fr
	return nil
}

// wsPayloads is the byte stream of a WebSocket's binary frames: the FLV
// the server split into frames. A ping is answered; a close ends it.
type wsPayloads struct {
	w    *wsClient
	rest []byte
}

func (r *wsPayloads) Read(b []byte) (int, error) {
	for len(r.rest) == 0 {
		op, p, err := r.w.next()
		if err != nil {
			return 0, err
		}
		switch op {
		case websocket.OpBinary:
			r.rest = p
		case websocket.OpPing:
			if err := r.w.send(websocket.OpPong, p); err != nil {
				return 0, err
			}
		case websocket.OpClose:
			return 0, io.EOF
		default:
			return 0, fmt.Errorf("websocket: unexpected frame, op %d", op)
		}
	}
	n := copy(b, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}
