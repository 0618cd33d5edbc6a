package main

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/tlstest"
)

// listenerFlags are every flag that opens a listener.
var listenerFlags = []string{"-listen", "-listen-tls", "-http", "-http-play", "-api"}

// freeLoopbackPort is a 127.0.0.1 address that was free a moment ago.
func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// occupy holds a 127.0.0.1 port open until the test ends.
func occupy(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// listenerArgs is a serve command line with every listener on the address
// addrs gives it, and a certificate for -listen-tls.
func listenerArgs(t *testing.T, addrs map[string]string) []string {
	cert, key := tlstest.WriteFiles(t, t.TempDir(), 1)
	args := []string{"-tls-cert", cert, "-tls-key", key, "-bpf=false", "-io", "netpoll", "-stats-interval", "0"}
	for _, f := range listenerFlags {
		args = append(args, f, addrs[f])
	}
	return args
}

// TestListenErrorNamesFlag: a listener whose port is taken fails serve with
// an error naming its flag and address, and every listener opened before
// it is closed by the time serve returns (its port can be bound again).
func TestListenErrorNamesFlag(t *testing.T) {
	for _, flag := range listenerFlags {
		t.Run(flag, func(t *testing.T) {
			addrs := map[string]string{}
			for _, f := range listenerFlags {
				addrs[f] = freeLoopbackPort(t)
			}
			addrs[flag] = occupy(t)
			c, err := parseServeArgs(listenerArgs(t, addrs))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = serve(ctx, c, discardLogger(), func(net.Addr) { t.Errorf("serve started with %s on a port in use", flag) })
			if err == nil || !strings.Contains(err.Error(), flag+" "+addrs[flag]+":") || !strings.Contains(err.Error(), "address already in use") {
				t.Fatalf("serve with %s on a port in use: %v, want an error naming %s %s", flag, err, flag, addrs[flag])
			}
			for _, f := range listenerFlags {
				if f == flag {
					continue
				}
				ln, err := net.Listen("tcp", addrs[f])
				if err != nil {
					t.Errorf("after the %s failure, %s %s is still bound: %v", flag, f, addrs[f], err)
					continue
				}
				ln.Close()
			}
		})
	}
}

// TestListenErrorExit: the binary with a listener on a port in use exits
// with status 1 and a log line naming the flag.
func TestListenErrorExit(t *testing.T) {
	bin := buildBinary(t)
	for _, flag := range listenerFlags {
		t.Run(flag, func(t *testing.T) {
			addrs := map[string]string{}
			for _, f := range listenerFlags {
				addrs[f] = "127.0.0.1:0"
			}
			addrs[flag] = occupy(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, append([]string{"serve"}, listenerArgs(t, addrs)...)...).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1\n%s", err, out)
			}
			if want := flag + " " + addrs[flag] + ": listen tcp"; !strings.Contains(string(out), want) {
				t.Errorf("the log does not name %q:\n%s", want, out)
			}
		})
	}
}
