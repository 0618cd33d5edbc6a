package main

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// DefaultHeaderTimeout is how long an HTTP client may take to send a
// request's headers (-http-header-timeout): a player's request is a few
// hundred bytes, sent at once; ten seconds is what nginx's
// client_header_timeout and Apache's RequestReadTimeout give too.
const DefaultHeaderTimeout = 10 * time.Second

// timeoutReply is what a client that did not finish its headers in time
// gets before the close. net/http closes such a connection without a word
// (it counts a timeout among the read errors it does not answer), which
// leaves a client or a proxy guessing why.
var timeoutReply = func() []byte {
	body := "request headers not received in time\n"
	return []byte("HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

// timeoutReplyDeadline bounds the write of timeoutReply: a client that
// reads nothing must not hold the closing connection.
const timeoutReplyDeadline = time.Second

// headerTimeoutListener hands out connections that answer 408 when the
// http.Server's ReadHeaderTimeout ends them. It works with the server's
// ConnState hook (trackHeaderPhase), which tells each connection when the
// server reads a request's headers.
type headerTimeoutListener struct {
	net.Listener
}

// Accept implements net.Listener.
func (l headerTimeoutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	var hc *headerConn
	switch tc := c.(type) {
	case *net.TCPConn:
		hc = &headerConn{TCPConn: tc, closer: tc}
	case *retiringConn: // final figures at close (figures.go)
		hc = &headerConn{TCPConn: tc.TCPConn, closer: tc}
	default:
		return c, nil
	}
	hc.reading.Store(true)
	hc.fresh.Store(true)
	return hc, nil
}

// headerConn is a TCP connection that knows whether the server is waiting
// for a request's headers on it, and whether a read timed out then. It
// embeds *net.TCPConn so that what the transports look for in a hijacked
// player's connection (syscall.Conn, net.Buffers' writev) stays visible.
type headerConn struct {
	*net.TCPConn
	closer   net.Conn    // what Close closes: the TCPConn or the retiringConn around it
	reading  atomic.Bool // between StateNew or StateIdle and StateActive
	fresh    atomic.Bool // no request read yet
	got      atomic.Bool // bytes of a request arrived while reading
	timedOut atomic.Bool // a header read timed out: the answer is 408
	replied  atomic.Bool // the 408 is written
}

// Read implements net.Conn.
func (c *headerConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if c.reading.Load() {
		if n > 0 {
			c.got.Store(true)
		}
		var ne net.Error
		// A keep-alive connection that stays silent ends at the idle
		// timeout without a reply, as clients expect; one that started a
		// request, or never sent one, is told why.
		if err != nil && errors.As(err, &ne) && ne.Timeout() && (c.got.Load() || c.fresh.Load()) {
			c.timedOut.Store(true)
		}
	}
	return n, err
}

// Write implements net.Conn. Once a header read timed out, what the
// server writes is its own answer to the broken read — net/http says
// "400 Bad Request" to a request cut short by the timeout — and the 408
// goes in its place.
func (c *headerConn) Write(p []byte) (int, error) {
	if c.timedOut.Load() {
		c.reply408()
		return len(p), nil
	}
	return c.TCPConn.Write(p)
}

// Close implements net.Conn: a connection whose headers timed out gets
// the 408 first (net/http writes nothing when none of the request came).
func (c *headerConn) Close() error {
	if c.timedOut.Load() {
		c.reply408()
	}
	return c.closer.Close()
}

// reply408 writes timeoutReply once.
func (c *headerConn) reply408() {
	if c.replied.Swap(true) {
		return
	}
	c.TCPConn.SetWriteDeadline(time.Now().Add(timeoutReplyDeadline))
	c.TCPConn.Write(timeoutReply)
}

// trackHeaderPhase is the http.Server's ConnState hook that tells each
// headerConn when the server reads headers: from a new connection or an
// idle one until its request is read (StateActive, which net/http also
// reports after a read that failed part way, once the timeout is noted).
func trackHeaderPhase(conn net.Conn, state http.ConnState) {
	c, ok := conn.(*headerConn)
	if !ok {
		return
	}
	switch state {
	case http.StateIdle:
		c.got.Store(false)
		c.fresh.Store(false)
		c.reading.Store(true)
	case http.StateActive, http.StateHijacked:
		c.reading.Store(false)
	}
}
