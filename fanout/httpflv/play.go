package httpflv

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/access"
	"github.com/bbllive/bbllive/fanout/websocket"
)

// headWriteTimeout bounds writing a refusal on a hijacked connection.
const headWriteTimeout = 5 * time.Second

// play hijacks the connection and hands it to the hub with its response
// head, which the transport writes before the stream.
func (h *Handler) play(w http.ResponseWriter, r *http.Request, v *fanout.Viewer, kind *streamKind, accept string, adm *access.Admission) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		adm.Done()
		h.refuse(w, r, http.StatusHTTPVersionNotSupported, "streaming needs an HTTP/1.x connection")
		return
	}
	conn.SetDeadline(time.Time{}) // the server's header deadline is not the player's
	var in fanout.Input
	var ws *wsInput
	head := streamResponseHead(kind.contentType, h.allowOrigin())
	if v.Protocol == kind.ws {
		ws = &wsInput{}
		head, in = wsResponseHead(accept), ws
	}
	p, err := h.Hub.PlayConn(v, conn, kind.format(v.Protocol), head, in, adm)
	if err != nil {
		h.logger().Info("http-flv player refused", "stream", v.Key(), "remote", v.Remote, "err", err)
		writeRefusal(conn, http.StatusServiceUnavailable, err.Error())
		conn.Close()
		return
	}
	if ws != nil {
		ws.startKeepalive(p, h.pingInterval(), h.pongTimeout())
	}
	// The hub logged its "playing" line, with the attributes of an RTMP
	// player's (fanout.Viewer.LogAttrs), and logs its end.
	p.Logger().Debug("http player transport", "transport_reads", p.OwnsConn())
	if p.OwnsConn() {
		return // the transport reads it, and closes it at the end
	}
	h.readUntilEnd(p, conn)
}

// readUntilEnd is the player's reader where the transport only writes
// (netpoll): it passes input on and ends the player when the client
// leaves or the transport shut the connection down.
func (h *Handler) readUntilEnd(p *fanout.Player, conn net.Conn) {
	defer conn.Close()
	defer p.Close()
	if !h.track(conn) {
		return
	}
	defer h.untrack(conn)
	buf := make([]byte, 512)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if ferr := p.Feed(buf[:n]); ferr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// streamResponseHead is the answer to a GET of a live stream. The body is
// the stream until the connection closes: no length, no chunking, which
// every FLV client expects and fMP4 readers (ffmpeg, fetch) take as well.
func streamResponseHead(contentType, origin string) []byte {
	return []byte("HTTP/1.1 200 OK\r\n" +
		"Content-Type: " + contentType + "\r\n" +
		"Cache-Control: no-cache, no-store\r\n" +
		"Access-Control-Allow-Origin: " + origin + "\r\n" +
		"Connection: close\r\n\r\n")
}

// writeRefusal answers on a hijacked connection.
func writeRefusal(conn net.Conn, status int, why string) {
	why = strings.ReplaceAll(why, "\r\n", " ")
	conn.SetWriteDeadline(time.Now().Add(headWriteTimeout))
	fmt.Fprintf(conn, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s\n",
		status, http.StatusText(status), len(why)+1, why)
}

// wsInput reads a WebSocket player's frames: a ping is answered with a
// pong, a close with a close (then the connection ends), a violation with a
// close carrying its status. Data frames are ignored: a viewer has nothing
// to say.
type wsInput struct {
	parser websocket.Parser
	done   bool // a close was sent: nothing more is read

	keep atomic.Pointer[keepalive] // server pings, once the player is attached
}

// startKeepalive has the server ping p (keepalive.go).
func (in *wsInput) startKeepalive(p *fanout.Player, interval, timeout time.Duration) {
	in.keep.Store(newKeepalive(p, interval, timeout))
}

// Close implements io.Closer: the player is gone, so are its pings.
func (in *wsInput) Close() error {
	if k := in.keep.Load(); k != nil {
		k.stop()
	}
	return nil
}

// Feed implements fanout.Input. Whatever the client sends shows it is
// alive, a pong or any other frame.
func (in *wsInput) Feed(p *fanout.Player, b []byte) error {
	if k := in.keep.Load(); k != nil && len(b) > 0 {
		k.alive()
	}
	if in.done {
		return nil
	}
	err := in.parser.Feed(b, func(f websocket.Frame) error {
		switch f.Op {
		case websocket.OpPing:
			p.SendControl(websocket.AppendFrame(nil, websocket.OpPong, f.Payload), false)
		case websocket.OpClose:
			in.done = true
			code := []byte{}
			if len(f.Payload) >= 2 {
				code = f.Payload[:2] // echo the status, as RFC 6455 5.5.1 asks
			}
			p.SendControl(websocket.AppendFrame(nil, websocket.OpClose, code), true)
			return errStop
		}
		return nil
	})
	if pe, ok := websocket.IsProtocolError(err); ok {
		in.done = true
		p.SendControl(websocket.AppendClose(nil, pe.Code, pe.Reason), true)
		return nil
	}
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

var errStop = errors.New("stop")
