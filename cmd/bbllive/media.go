package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/httpflv"
	"github.com/bbllive/bbllive/rtmp"
)

// mediaConfig is the HTTP playback part of serveConfig: HTTP-FLV and
// WebSocket-FLV, served on -http and, when set, on a listener of their own.
type mediaConfig struct {
	playAddr     string
	allowOrigin  string
	pingInterval time.Duration
	pongTimeout  time.Duration

	// handler is the endpoint once serve made it; -http mounts it too.
	handler *httpflv.Handler
	// bound is the playback listener's address once it listens, for the
	// other listeners' indexes to name.
	bound net.Addr
	// onPlay, when set, receives the bound playback address (tests).
	onPlay func(net.Addr)
}

func mediaFlags(fs *flag.FlagSet, c *mediaConfig) {
	fs.StringVar(&c.playAddr, "http-play", "", "a listener for HTTP-FLV, fMP4 and WebSocket playback only (/APP/NAME.flv, /APP/NAME.mp4), beside -http, which serves them too; empty: none")
	fs.StringVar(&c.allowOrigin, "http-play-origin", "*", "Access-Control-Allow-Origin of HTTP-FLV and fMP4 answers (the origins whose pages may play); HLS always answers *")
	durationVar(fs, &c.pingInterval, "ws-ping-interval", httpflv.DefaultPingInterval, "how often a WebSocket player is pinged")
	durationVar(fs, &c.pongTimeout, "ws-pong-timeout", httpflv.DefaultPongTimeout, "disconnect a WebSocket player that sends nothing (no pong, no frame) for this long after a ping")
}

// media is the running HTTP playback.
type media struct {
	handler *httpflv.Handler
	play    *http.Server
}

// startMedia makes the HTTP-FLV endpoint (stored in c.media for -http) and
// starts the dedicated playback listener when one is asked for.
func startMedia(c *serveConfig, hub *fanout.Hub, srv *rtmp.Server, fig *socketFigures, log *slog.Logger) (*media, error) {
	h := &httpflv.Handler{Hub: hub, Logger: log, NextID: srv.NextID, AllowOrigin: c.media.allowOrigin,
		PingInterval: c.media.pingInterval, PongTimeout: c.media.pongTimeout}
	c.media.handler = h
	m := &media{handler: h}
	if c.media.playAddr == "" {
		return m, nil
	}
	ln, err := fig.listen(c.media.playAddr)
	if err != nil {
		return nil, fmt.Errorf("-http-play %s: %w", c.media.playAddr, err)
	}
	m.play = serveHTTP(ln, h, c.headerTimeout, log)
	c.media.bound = ln.Addr()
	log.Info("http playback listening", "addr", ln.Addr().String())
	if c.media.onPlay != nil {
		c.media.onPlay(ln.Addr())
	}
	return m, nil
}

func (m *media) close() {
	if m.play != nil {
		m.play.Close()
	}
	m.handler.Close()
}

// withMedia sends stream requests (/APP/NAME.flv, /APP/NAME.mp4) to the
// playback endpoint and everything else to h.
func withMedia(h http.Handler, m *httpflv.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".flv") || strings.HasSuffix(r.URL.Path, ".mp4") {
			m.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
