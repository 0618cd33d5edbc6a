package bpf_test

import (
	"errors"
	"log"
	"net"

	"github.com/bbllive/bbllive/bpf"
	"github.com/prometheus/client_golang/prometheus"
)

// How a server wires the probes: one log line when the kernel says no, the
// collector registered either way so bbllive_bpf_enabled tells which.
func Example() {
	probes, err := bpf.Load(bpf.Options{})
	if errors.Is(err, bpf.ErrUnavailable) {
		// A nil *Probes answers every method with "nothing known".
		log.Printf("running without kernel socket figures: %v", err)
	} else if err != nil {
		log.Fatal(err)
	}
	defer probes.Close()

	// The server knows which connections belong to which stream.
	streams := func() map[string][]uint64 { return map[string][]uint64{"live/cam1": {}} }
	prometheus.MustRegister(bpf.NewCollector(probes, streams))

	// At accept: remember the cookie with the connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		cookie, _ := bpf.Cookie(conn.(*net.TCPConn))
		// … serve, listing cookie under its stream; for /api/connections:
		if s, ok := probes.Socket(cookie); ok {
			log.Printf("sent %d bytes, srtt %v", s.BytesSent, s.SRTT)
		}
		conn.Close() // its final figures wait for the collector's next scrape
	}()
}
