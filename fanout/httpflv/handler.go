// Package httpflv serves a hub's streams to browsers and other HTTP
// clients: HTTP-FLV (GET /APP/NAME.flv), live fMP4 (GET /APP/NAME.mp4),
// and either over WebSocket (the same path with Upgrade: websocket, RFC
// 6455). The request is answered and the connection hijacked here; from
// then on the player is a cursor into the stream's wire log of that format
// on the hub's transport, exactly like an RTMP player.
package httpflv

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/access"
	"github.com/bbllive/bbllive/fanout/flv"
	"github.com/bbllive/bbllive/fanout/fmp4"
)

// Handler is the HTTP-FLV, fMP4 and WebSocket endpoint. Mount it for paths
// of the form /APP/NAME.flv and /APP/NAME.mp4 (other paths get 404).
type Handler struct {
	// Hub is where players are attached.
	Hub *fanout.Hub
	// Logger receives one line per refused request (default slog.Default).
	Logger *slog.Logger
	// NextID numbers the players for the control API, from the same
	// sequence as the RTMP sessions (rtmp.Server.NextID); nil leaves them 0.
	NextID func() uint64
	// AllowOrigin is the Access-Control-Allow-Origin of every answer, so
	// that pages on other origins can play (default "*").
	AllowOrigin string
	// PingInterval is how often a WebSocket player is pinged, and
	// PongTimeout how long after a ping it may stay silent before it is
	// disconnected (defaults DefaultPingInterval, DefaultPongTimeout).
	PingInterval, PongTimeout time.Duration

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // players this handler reads (netpoll)
	closed bool
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", h.allowOrigin())
	app, name, kind, ok := streamPath(r.URL.Path)
	if !ok {
		http.Error(w, "not found: streams are at /APP/NAME.flv and /APP/NAME.mp4", http.StatusNotFound)
		return
	}
	switch r.Method {
	case http.MethodOptions:
		h.preflight(w, r)
		return
	case http.MethodGet, http.MethodHead:
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	v := fanout.Viewer{App: app, Name: name, Query: r.URL.RawQuery, Remote: r.RemoteAddr, Protocol: kind.http}
	var accept string
	if isUpgrade(r) {
		key, status, why := checkUpgrade(r)
		if status != 0 {
			h.refuse(w, r, status, why)
			return
		}
		v.Protocol, accept = kind.ws, key
	}
	if h.NextID != nil {
		v.ID = h.NextID()
	}
	// Access first, so that a client without a credential learns nothing,
	// not even whether the stream exists; then the hub's play wait decides
	// "not found", as it does for RTMP.
	adm, err := h.Hub.Admit(r.Context(), v.Request(access.Play))
	if err != nil {
		h.refuse(w, r, access.HTTPStatusOf(err), err.Error())
		return
	}
	if err := h.Hub.AwaitPublisher(r.Context(), v.Key()); err != nil {
		adm.Done()
		h.refuse(w, r, http.StatusNotFound, err.Error())
		return
	}
	if r.Method == http.MethodHead {
		adm.Done()
		setStreamHeaders(w.Header(), kind.contentType)
		w.WriteHeader(http.StatusOK)
		return
	}
	h.play(w, r, &v, kind, accept, adm)
}

// streamKind is what a path's extension serves.
type streamKind struct {
	ext         string
	contentType string
	http, ws    string // Viewer.Protocol over plain HTTP and over WebSocket
	httpFormat  fanout.Format
	wsFormat    fanout.Format
}

// kinds are the stream files served, by extension.
var kinds = []streamKind{
	{".flv", "video/x-flv", fanout.ProtocolHTTPFLV, fanout.ProtocolWSFLV, flv.HTTP, flv.WebSocket},
	{".mp4", "video/mp4", fanout.ProtocolFMP4, fanout.ProtocolWSFMP4, fmp4.HTTP, fmp4.WebSocket},
}

// format is the wire format of a viewer of this kind.
func (k *streamKind) format(protocol string) fanout.Format {
	if protocol == k.ws {
		return k.wsFormat
	}
	return k.httpFormat
}

// streamPath splits "/APP/NAME.flv" (or .mp4).
func streamPath(p string) (app, name string, kind *streamKind, ok bool) {
	rest, ok := strings.CutPrefix(p, "/")
	if !ok {
		return "", "", nil, false
	}
	app, file, ok := strings.Cut(rest, "/")
	if !ok || app == "" || strings.Contains(file, "/") {
		return "", "", nil, false
	}
	for i := range kinds {
		if name, ok = strings.CutSuffix(file, kinds[i].ext); ok && name != "" {
			return app, name, &kinds[i], true
		}
	}
	return "", "", nil, false
}

func (h *Handler) allowOrigin() string {
	if h.AllowOrigin == "" {
		return "*"
	}
	return h.AllowOrigin
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}

// preflight answers a CORS preflight: any origin may GET the stream, with
// whatever request headers its player sends.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		hd.Set("Access-Control-Allow-Headers", req)
	}
	hd.Set("Access-Control-Max-Age", "600")
	hd.Set("Allow", "GET, HEAD, OPTIONS")
	w.WriteHeader(http.StatusNoContent)
}

// refuse answers a request that gets no stream, and logs why.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, why string) {
	h.logger().Info("http-flv request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "status", status, "why", why)
	if status == http.StatusUpgradeRequired {
		w.Header().Set("Sec-WebSocket-Version", "13")
	}
	w.Header().Set("Connection", "close")
	http.Error(w, why, status)
}

// setStreamHeaders are the headers of a stream's answer.
func setStreamHeaders(hd http.Header, contentType string) {
	hd.Set("Content-Type", contentType)
	hd.Set("Cache-Control", "no-cache, no-store")
}

// Close ends the players whose connections this handler reads (the
// transport's own, io_uring's, end with the transport).
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	conns := h.conns
	h.conns = nil
	h.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	return nil
}

// track records a connection the handler reads, or refuses it after Close.
func (h *Handler) track(c net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	if h.conns == nil {
		h.conns = map[net.Conn]struct{}{}
	}
	h.conns[c] = struct{}{}
	return true
}

func (h *Handler) untrack(c net.Conn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}

func (h *Handler) pingInterval() time.Duration {
	if h.PingInterval > 0 {
		return h.PingInterval
	}
	return DefaultPingInterval
}

func (h *Handler) pongTimeout() time.Duration {
	if h.PongTimeout > 0 {
		return h.PongTimeout
	}
	return DefaultPongTimeout
}
