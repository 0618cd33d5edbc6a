package main

import (
	"net"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/tlstest"
)

// TestRelayKernelFigures: the connections a server dials itself are
// counted as the ones it accepts, with either source of figures. An edge's
// pull from its origin, over RTMP and over RTMPS, is its stream's ingest:
// the stream's kernel received bytes on the edge are what the pull read;
// a -forward push's kernel sent bytes are what it sent; both are listed in
// /api/connections under their own role. What each read or sent after the
// last scrape before it closed is counted too (TCP_INFO takes a closing
// dialed socket's final figures as an accepted one's). What was read and
// sent is taken on the wire, by a proxy between the servers.
func TestRelayKernelFigures(t *testing.T) {
	for _, src := range figureSources {
		for _, kind := range []string{"pull/rtmp", "pull/rtmps", "forward"} {
			t.Run(src.name+"/"+kind, func(t *testing.T) {
				if src.name == "bpf" {
					needBPF(t)
				}
				if kind == "forward" {
					checkForwardFigures(t, src.name, src.args)
				} else {
					checkPullFigures(t, kind == "pull/rtmps", src.name, src.args)
				}
			})
		}
	}
}

// checkPullFigures runs an origin with a publisher, and an edge that
// pulls from it through a counting proxy (over TLS when secure) for one
// HTTP-FLV player, with figures from source.
func checkPullFigures(t *testing.T, secure bool, source string, args []string) {
	var origin *testServer
	upstream, scheme := "", "rtmp"
	var edgeArgs []string
	if secure {
		certFile, keyFile := tlstest.WriteFiles(t, t.TempDir(), 1)
		tlsc := make(chan string, 1)
		origin = startServerWith(t, func(c *serveConfig) { c.tls.onListen = func(a net.Addr) { tlsc <- a.String() } },
			"-publisher-timeout", "30s", "-listen-tls", "127.0.0.1:0", "-tls-cert", certFile, "-tls-key", keyFile)
		upstream, scheme = <-tlsc, "rtmps"
		edgeArgs = []string{"-relay-ca", certFile}
	} else {
		origin = startServer(t, "-publisher-timeout", "30s")
		upstream = origin.addr
	}
	proxy := startCountingProxy(t, upstream)
	originURL := scheme + "://" + proxy.addr
	edge := startServer(t, append(append(edgeArgs, "-origin", originURL, "-edge-linger", "300ms", "-publish-grace", "1s"), args...)...)
	checkFiguresSource(t, edge, source)
	pub := startMetricsPub(t, origin.url("pull"), 1_000_000)
	player := startLeavingPlayer(t, &figuresServer{testServer: edge}, "http-flv", "pull")
	waitFor(t, 10*time.Second, "media through the edge", func() bool { return player.n.Load() > 50_000 })

	kIn := mustSeries(t, scrape(t, edge.http), "bbllive_stream_kernel_received_bytes_total", "stream=live/pull")
	if kIn < 50_000 {
		t.Errorf("kernel received bytes of the pulled stream on the edge: %.0f while its player got %d", kIn, player.n.Load())
	}
	time.Sleep(500 * time.Millisecond) // what the pull reads from here on is after the last scrape
	pub.stop()                         // quiet: no more media; the publisher stays
	proxy.waitQuiet(t)
	row := dialedRow(t, edge.http, "pull", proxy.addr)
	if row.Protocol != scheme || row.Target != originURL || row.BytesReceived != uint64(proxy.down.Load()) || row.BytesSent != uint64(proxy.up.Load()) {
		t.Errorf("pull row %+v: want protocol %s, target %s, kernel bytes received %d and sent %d (the proxy's)",
			row, scheme, originURL, proxy.down.Load(), proxy.up.Load())
	}
	player.leave() // the pull ends a linger later, with no scrape in between
	waitFor(t, 5*time.Second, "the edge's pull to close", func() bool { return proxy.ended.Load() == 1 })
	f := lastStreamFigures(t, edge.http, []string{"live/pull"})["live/pull"]
	// The stream's connections on the edge are the pull and the player,
	// which sent nothing but its request. Everything the proxy passed on
	// was read before the pull closed (it was quiet), so the figures are
	// exact but for the peer's FIN, which TCP_INFO (and the eBPF record
	// of a socket closed with the FIN unread) may count or leave out:
	// a byte per connection. Over TLS the origin answers the pull's
	// close_notify with its own, which the proxy passes on and the pull,
	// closed, never reads: one alert record, 24 bytes under TLS 1.3
	// (5 of header, 2 of alert, 1 of content type, 16 of AEAD tag).
	want := float64(proxy.down.Load()) + float64(player.request)
	slack := 2.0
	if secure {
		slack += 5 + 2 + 1 + 16
	}
	t.Logf("%s %s: edge kernel received %.0f; the proxy passed the pull %d, the player sent %d",
		source, scheme, f.kIn, proxy.down.Load(), player.request)
	if f.kIn < want-slack || f.kIn > want {
		t.Errorf("edge kernel received %.0f for live/pull, want the pull's %d bytes read plus the player's request %d = %.0f",
			f.kIn, proxy.down.Load(), player.request, want)
	}
}

// checkForwardFigures runs a server that forwards its streams to a target
// through a counting proxy, with a publisher, and figures from source.
func checkForwardFigures(t *testing.T, source string, args []string) {
	target := startServer(t, "-publisher-timeout", "30s")
	proxy := startCountingProxy(t, target.addr)
	srv := startServer(t, append([]string{"-forward", "rtmp://" + proxy.addr, "-publish-grace", "1s"}, args...)...)
	checkFiguresSource(t, srv, source)
	pub := startMetricsPub(t, srv.url("fwd"), 1_000_000)
	waitFor(t, 10*time.Second, "media forwarded", func() bool { return proxy.up.Load() > 50_000 })

	kOut := mustSeries(t, scrape(t, srv.http), "bbllive_stream_kernel_sent_bytes_total", "stream=live/fwd")
	if kOut < 50_000 {
		t.Errorf("kernel sent bytes of the forwarded stream: %.0f while the target got %d", kOut, proxy.up.Load())
	}
	time.Sleep(500 * time.Millisecond) // what the forward sends from here on is after the last scrape
	pub.stop()
	proxy.waitQuiet(t)
	row := dialedRow(t, srv.http, "forward", proxy.addr)
	wantTarget := "rtmp://" + proxy.addr + "/live/…"
	if row.Protocol != "rtmp" || row.Target != wantTarget || row.BytesSent != uint64(proxy.up.Load()) || row.BytesReceived != uint64(proxy.down.Load()) ||
		row.AppBytesSent == 0 || row.AppBytesSent > row.BytesSent {
		t.Errorf("forward row %+v: want protocol rtmp, target %s, kernel bytes sent %d and received %d (the proxy's), app bytes sent below them",
			row, wantTarget, proxy.up.Load(), proxy.down.Load())
	}
	pub.c.Close() // the publisher leaves, and its forward with it, with no scrape in between
	waitFor(t, 5*time.Second, "the forward to close", func() bool { return proxy.ended.Load() == 1 })
	f := lastStreamFigures(t, srv.http, []string{"live/fwd"})["live/fwd"]
	// The stream's connections are the forward and the publisher, to
	// which the server sent its handshake and replies (controlBytesMax).
	sent := float64(proxy.up.Load())
	t.Logf("%s: kernel sent %.0f for live/fwd; the proxy took %.0f from the forward", source, f.kOut, sent)
	if f.kOut < sent+handshakeBytes || f.kOut > sent+controlBytesMax {
		t.Errorf("kernel sent %.0f for live/fwd, want the forward's %.0f bytes plus the publisher's control bytes (+%d..+%d)",
			f.kOut, sent, handshakeBytes, controlBytesMax)
	}
}

// checkFiguresSource fails t unless srv reads its figures from source.
func checkFiguresSource(t *testing.T, srv *testServer, source string) {
	t.Helper()
	if v := mustSeries(t, scrape(t, srv.http), "bbllive_socket_figures_source", "source="+source); v != 1 {
		t.Fatalf("bbllive_socket_figures_source{source=%q} = %v, want 1: %s", source, v, srv.logs.String())
	}
}

// dialedRow is the one row of /api/connections on httpAddr with role and
// peer, which must be a kernel-counted connection of a stream, numbered.
func dialedRow(t *testing.T, httpAddr, role, peer string) connRow {
	t.Helper()
	var rows []connRow
	getJSON(t, httpAddr, "/api/connections", &rows)
	var found []connRow
	for _, r := range rows {
		if r.Role == role {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("/api/connections lists %d connections of role %q, want 1: %+v", len(found), role, rows)
	}
	r := found[0]
	if r.Peer != peer || r.ID == 0 || r.Cookie == 0 || r.Source != "kernel" || r.SRTT == nil {
		t.Errorf("%s row %+v: want peer %s, an id, a cookie and kernel figures", role, r, peer)
	}
	return r
}
