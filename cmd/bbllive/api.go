package main

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/access"
	"github.com/bbllive/bbllive/rtmp"
)

// control is what the HTTP control plane acts on: health, the API's
// credential, kicking and reloading.
type control struct {
	log       *slog.Logger
	srv       *rtmp.Server
	hub       *fanout.Hub
	gate      *access.Controller
	transport string
	reloader  *reloader

	ready    atomic.Bool            // the RTMP listener serves and the transport runs
	apiToken atomic.Pointer[string] // "" : loopback-only for privileged calls
}

func newControl(c *serveConfig, srv *rtmp.Server, hub *fanout.Hub, gate *access.Controller, transport string, log *slog.Logger) *control {
	ctl := &control{log: log, srv: srv, hub: hub, gate: gate, transport: transport}
	ctl.setAPIToken(c.access.apiToken)
	ctl.reloader = newReloader(ctl, c)
	return ctl
}

func (c *control) setAPIToken(t string) { c.apiToken.Store(&t) }

// handler puts the control routes and the API guard in front of inner (the
// metrics, the JSON API and whatever else -http serves). apiHere is false
// on the -http listener when -api moved the API to a listener of its own:
// there the API's paths are not found.
func (c *control) handler(inner http.Handler, apiHere bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", c.serveReady)
	mux.HandleFunc("POST /api/reload", c.serveReload)
	mux.HandleFunc("POST /api/connections/{id}/kick", c.serveKick)
	mux.Handle("/", inner)
	return c.guard(mux, apiHere)
}

// serveReady answers 200 once the RTMP listener serves with its transport
// running, 503 before and while shutting down.
func (c *control) serveReady(w http.ResponseWriter, _ *http.Request) {
	if !c.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		serveJSON(w, map[string]any{"ready": false})
		return
	}
	serveJSON(w, map[string]any{"ready": true, "transport": c.transport})
}

func (c *control) serveReload(w http.ResponseWriter, r *http.Request) {
	c.log.Info("reload requested", "by", r.RemoteAddr)
	restart, err := c.reloader.reload()
	if err != nil {
		w.WriteHeader(http.StatusUnprocessableEntity)
		serveJSON(w, map[string]any{"reloaded": false, "error": err.Error()})
		return
	}
	if restart == nil {
		restart = []string{}
	}
	serveJSON(w, map[string]any{"reloaded": true, "restart_needed": restart})
}

func (c *control) serveKick(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "bad connection id", http.StatusBadRequest)
		return
	}
	info, ok := c.hub.Kick(id)
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		serveJSON(w, map[string]any{"error": "no publisher or player with that id"})
		return
	}
	c.log.Info("kicked", "id", id, "role", info.Role, "stream", info.Stream, "by", r.RemoteAddr)
	serveJSON(w, map[string]any{"kicked": id, "role": info.Role, "stream": info.Stream})
}

// guard lets through what is not the API (health, playback); the API and
// /metrics need the bearer token when -api-token is set, and without one
// the calls that change state or list clients answer loopback clients
// only.
func (c *control) guard(next http.Handler, apiHere bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean("/" + r.URL.Path)
		if !isAPIPath(p) {
			next.ServeHTTP(w, r)
			return
		}
		if !apiHere {
			http.NotFound(w, r)
			return
		}
		if tok := *c.apiToken.Load(); tok != "" {
			if !bearerMatches(r.Header.Get("Authorization"), tok) {
				c.log.Warn("api call refused", "path", p, "client", r.RemoteAddr, "why", "no valid bearer token")
				w.Header().Set("WWW-Authenticate", `Bearer realm="bbllive"`)
				http.Error(w, "unauthorized: this call needs Authorization: Bearer <the -api-token>", http.StatusUnauthorized)
				return
			}
		} else if privileged(r.Method, p) && !isLoopback(r.RemoteAddr) {
			c.log.Warn("api call refused", "path", p, "client", r.RemoteAddr, "why", "not loopback and no -api-token set")
			http.Error(w, "forbidden: without -api-token this call answers loopback clients only", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isAPIPath tells the API and metrics from everything else.
func isAPIPath(p string) bool { return p == "/metrics" || p == "/api" || strings.HasPrefix(p, "/api/") }

// privileged are the calls that change state or name clients.
func privileged(method, p string) bool {
	return (method != http.MethodGet && method != http.MethodHead) || p == "/api/connections" ||
		strings.HasPrefix(p, "/api/connections/")
}

// bearerMatches compares in constant time.
func bearerMatches(header, token string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// startAPI opens the -api listener, when set: the API, /metrics and the
// health checks on an address of their own, so playback on -http can face
// the internet while the control plane stays on a private interface.
// Its address goes into layout.
func (o *observability) startAPI(c *serveConfig, ctl *control, h http.Handler, layout *httpLayout, log *slog.Logger) error {
	if c.access.apiAddr == "" {
		return nil
	}
	hs, ln, err := startHTTP(c.access.apiAddr, ctl.handler(h, true), c.headerTimeout, log)
	if err != nil {
		return fmt.Errorf("-api %s: %w", c.access.apiAddr, err)
	}
	o.api = hs
	layout.set(&layout.api, ln.Addr())
	log.Info("api listening", "addr", ln.Addr().String(), "api_token", *ctl.apiToken.Load() != "")
	if c.onAPI != nil {
		c.onAPI(ln.Addr())
	}
	return nil
}
