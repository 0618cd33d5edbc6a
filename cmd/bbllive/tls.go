package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/bbllive/bbllive/rtmp"
)

// tlsConfig is the RTMPS listener's part of serveConfig.
type tlsConfig struct {
	listen, cert, key string

	// onListen, when set, receives the bound RTMPS address (tests).
	onListen func(net.Addr)
}

func (c *tlsConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.listen, "listen-tls", "", "RTMPS listen address (TLS; needs -tls-cert and -tls-key), beside -listen; empty: none")
	fs.StringVar(&c.cert, "tls-cert", "", "PEM certificate chain of -listen-tls; re-read on SIGHUP and when the file changes")
	fs.StringVar(&c.key, "tls-key", "", "PEM private key of -tls-cert")
}

// validate refuses a listener without its certificate and key, or those
// without the listener.
func (c *tlsConfig) validate() error {
	switch {
	case c.listen == "" && (c.cert != "" || c.key != ""):
		return errors.New("-tls-cert and -tls-key need -listen-tls")
	case c.listen != "" && (c.cert == "" || c.key == ""):
		return fmt.Errorf("-listen-tls %s needs -tls-cert and -tls-key", c.listen)
	}
	return nil
}

// certReloader serves the newest good certificate of a cert/key pair: it
// looks at the files' modification times at most once a second, at a
// handshake, and on SIGHUP; a file that does not load keeps the previous
// certificate (and says so in the log).
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]time.Time // modification times of what cert was loaded from
	checked time.Time
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// load reads the pair if it changed since the last load.
func (r *certReloader) load() error {
	var stamp [2]time.Time
	for i, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return err
		}
		stamp[i] = st.ModTime()
	}
	r.mu.Lock()
	same := r.cert != nil && stamp == r.stamp
	r.mu.Unlock()
	if same {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("-tls-cert %s, -tls-key %s: %w", r.certFile, r.keyFile, err)
	}
	r.mu.Lock()
	first := r.cert == nil
	r.cert, r.stamp = &cert, stamp
	r.mu.Unlock()
	if !first {
		r.log.Info("rtmps: certificate reloaded", "cert", r.certFile)
	}
	return nil
}

// reload loads a changed pair, logging a bad one.
func (r *certReloader) reload() {
	if err := r.load(); err != nil {
		r.log.Error("rtmps: keeping the previous certificate", "err", err)
	}
}

// getCertificate is tls.Config.GetCertificate.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	due := time.Since(r.checked) >= time.Second
	if due {
		r.checked = time.Now()
	}
	r.mu.Unlock()
	if due {
		r.reload()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cert, nil
}

// startTLS opens the RTMPS listener on srv when -listen-tls asks for one;
// the returned func closes what it started.
func startTLS(c *tlsConfig, srv *rtmp.Server, fig *socketFigures, log *slog.Logger) (stop func(), err error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if c.listen == "" {
		return func() {}, nil
	}
	certs, err := newCertReloader(c.cert, c.key, log)
	if err != nil {
		return nil, err
	}
	tcp, err := fig.listen(c.listen) // under TLS, so a connection's close still reports its figures
	if err != nil {
		return nil, fmt.Errorf("-listen-tls %s: %w", c.listen, err)
	}
	ln := tls.NewListener(tcp, &tls.Config{GetCertificate: certs.getCertificate, MinVersion: tls.VersionTLS12})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				certs.reload()
			}
		}
	}()
	log.Info("rtmps listening", "addr", ln.Addr().String(), "delivery", "a writer goroutine per TLS player (no kernel TLS)")
	if c.onListen != nil {
		c.onListen(ln.Addr())
	}
	go srv.Serve(ln)
	return func() {
		signal.Stop(hup)
		close(done)
		ln.Close()
	}, nil
}
