package main

import (
	"net"
	"net/http"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/web"
)

// newPage is the start page of the -http listener (fanout/web). Where
// playing needs a credential it lists no stream: a stream's existence is
// not told to a client without one. Its links are those of layout: the
// API's where -http serves it, else where it is.
func newPage(c *serveConfig, hub *fanout.Hub, layout *httpLayout) *web.Handler {
	port := ""
	if _, p, err := net.SplitHostPort(c.listen); err == nil && p != "0" {
		port = p
	}
	a := &c.access
	return &web.Handler{Hub: hub, RTMPPort: port, HLS: c.hls.on, Version: versionString(),
		Hidden: a.secret != "" || a.jwks != "" || a.hookURL != "", Links: layout.pageLinks()}
}

// withPage routes the start page (/), its files (/web/…) and its stream
// list (/streams.json) to page, and the rest to next.
func withPage(next http.Handler, page *web.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /web/", page)
	mux.Handle("GET /streams.json", page)
	mux.Handle("/", next)
	return mux
}
