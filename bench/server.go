package bench

import (
	"context"
	"errors"
	"regexp"
	"strings"
)

// ServerProcess is a `bbllive serve` started as a separate process, so
// that its CPU, memory and system calls are its own.
type ServerProcess struct {
	*child
	Addr string // the RTMP address it listens on, 127.0.0.1:port
	// HTTPAddr is its -http address (HTTP-FLV, metrics), "" if unknown
	// (the floor has none).
	HTTPAddr string
}

// httpAddrPattern finds the -http address in the log line before the
// listening one.
var httpAddrPattern = regexp.MustCompile(`http listening[", ]+"?addr"?[=:]"?(127\.0\.0\.1:[0-9]+)`)

// addrPattern finds the listening address in the server's first log line,
// in text (rtmp=127.0.0.1:1234) or JSON ("rtmp":"127.0.0.1:1234") form.
var addrPattern = regexp.MustCompile(`"?rtmp"?[=:]"?(127\.0\.0\.1:[0-9]+)`)

// StartServer runs the configuration — bin serve, or bin bench floor — on
// a free loopback port with its flags appended (a later flag wins, so
// flags may not move it off 127.0.0.1: -listen is refused) and waits until
// it listens.
func StartServer(ctx context.Context, bin string, sc ServerConfig) (*ServerProcess, error) {
	for _, f := range sc.Flags {
		if f == "-listen" || f == "--listen" || strings.HasPrefix(strings.TrimLeft(f, "-"), "listen=") {
			return nil, errors.New("bench: a configuration may not set -listen: the harness only talks to 127.0.0.1 on a free port")
		}
	}
	// The HTTP listener stays on, as users run it, but on a free loopback
	// port: a fixed :8080 would collide with a server already running on
	// the machine or with a second benchmark.
	args := append(sc.Command(), "-listen", "127.0.0.1:0", "-http", "127.0.0.1:0", "-stats-interval", "0")
	args = append(args, sc.Flags...)
	c, addr, err := startChild(ctx, "server", bin, args, addrPattern)
	if err != nil {
		return nil, err
	}
	sp := &ServerProcess{child: c, Addr: addr}
	if m := httpAddrPattern.FindStringSubmatch(c.Log()); m != nil {
		sp.HTTPAddr = m[1]
	}
	return sp, nil
}
