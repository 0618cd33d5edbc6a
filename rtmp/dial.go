package rtmp

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// defaultPorts are the ports of the URL schemes a client dials.
var defaultPorts = map[string]string{"rtmp": "1935", "rtmps": "443"}

// ParseURL splits rtmp[s]://host[:port]/app[/more]/name into the address to
// dial, the app (everything between host and the last segment), and the
// stream name (with any query).
func ParseURL(raw string) (addr, app, name string, err error) {
	_, addr, app, name, err = parseURL(raw)
	return addr, app, name, err
}

func parseURL(raw string) (scheme, addr, app, name string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", "", "", err
	}
	port, ok := defaultPorts[u.Scheme]
	if !ok {
		return "", "", "", "", fmt.Errorf("rtmp: %q: scheme must be rtmp or rtmps", raw)
	}
	addr = u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	path := strings.Trim(u.Path, "/")
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "", "", "", "", fmt.Errorf("rtmp: %q: want %s://host/app/name", raw, u.Scheme)
	}
	app, name = path[:i], path[i+1:]
	if u.RawQuery != "" {
		name += "?" + u.RawQuery
	}
	return u.Scheme, addr, app, name, nil
}

// Dialer connects clients to rtmp:// and rtmps:// URLs.
type Dialer struct {
	// TLSConfig is used for rtmps://; nil means the system roots, with the
	// server name taken from the URL.
	TLSConfig *tls.Config
	// NetDial, when set, dials the TCP connection under the RTMP session
	// (under TLS for rtmps://), as net.Dialer.DialContext does, which it
	// replaces: a server that counts its sockets' kernel figures hands its
	// own, so that the connections it dials are counted as the ones it
	// accepts.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Dial connects to an rtmp:// or rtmps:// URL, runs the handshake and the
// connect command. The stream name in the URL is kept for Publish and Play.
func Dial(ctx context.Context, rawURL string) (*Client, error) {
	return (&Dialer{}).Dial(ctx, rawURL)
}

// Dial is the package's Dial with the dialer's settings.
func (d *Dialer) Dial(ctx context.Context, rawURL string) (*Client, error) {
	scheme, addr, app, name, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	conn, err := d.dialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	if scheme == "rtmps" {
		cfg := d.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}
	c := NewClient(conn, app, name, scheme+"://"+addr+"/"+app)
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if err := c.Connect(); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return c, nil
}

// dialTCP is the TCP connection to addr: NetDial's, else a net.Dialer's.
func (d *Dialer) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	if d.NetDial != nil {
		return d.NetDial(ctx, "tcp", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", addr)
}
