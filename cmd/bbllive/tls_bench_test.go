package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/fanout/tlstest"
	"github.com/bbllive/bbllive/rtmp"
)

// serverCPU is the CPU time (user + system) process pid used so far.
func serverCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of stat, after pid and comm
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

// BenchmarkRTMPSPlayerCost measures what a TLS player costs the server
// against a plain RTMP one: the server runs as its own process (its CPU
// read from /proc), a synthetic ≈ 1 Mbit/s stream is published, and N
// players of each kind play it for a window, after a window with none.
// Reported: server CPU % of a core per 100 players of each kind and their
// ratio, from one run.
//
//	go test -run '^$' -bench RTMPSPlayerCost -benchtime 1x ./cmd/bbllive
func BenchmarkRTMPSPlayerCost(b *testing.B) {
	const n, window = 100, 5 * time.Second
	dir := b.TempDir()
	bin := filepath.Join(dir, "bbllive")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v: %s", err, out)
	}
	certFile, keyFile := tlstest.WriteFiles(b, dir, 1)
	srv := exec.Command(bin, "-listen", "127.0.0.1:0", "-listen-tls", "127.0.0.1:0", "-tls-cert", certFile, "-tls-key", keyFile,
		"-http", "", "-bpf=false", "-stats-interval", "0", "-io", "auto")
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	plain, secure := "", ""
	addrRE := regexp.MustCompile(`(?:rtmp|addr)=(127\.0\.0\.1:\d+)`)
	sc := bufio.NewScanner(stderr)
	for (plain == "" || secure == "") && sc.Scan() {
		line := sc.Text()
		if m := addrRE.FindStringSubmatch(line); m != nil {
			if strings.Contains(line, "rtmps listening") {
				secure = m[1]
			} else if strings.Contains(line, "bbllive listening") {
				plain = m[1]
			}
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if plain == "" || secure == "" {
		b.Fatal("server did not report its listeners")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go costPublish(ctx, "rtmp://"+plain+"/live/cost")
	time.Sleep(time.Second)
	measure := func(url string, d *rtmp.Dialer, players int) time.Duration {
		var clients []*rtmp.Client
		for range players {
			dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
			c, err := d.Dial(dctx, url)
			dcancel()
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Play(); err != nil {
				b.Fatal(err)
			}
			go func() {
				for {
					if _, err := c.ReadMessage(); err != nil {
						return
					}
				}
			}()
			clients = append(clients, c)
		}
		time.Sleep(time.Second) // settle
		before := serverCPU(b, srv.Process.Pid)
		time.Sleep(window)
		used := serverCPU(b, srv.Process.Pid) - before
		for _, c := range clients {
			c.Close()
		}
		time.Sleep(500 * time.Millisecond)
		return used
	}
	for range b.N {
		idle := measure("", nil, 0)
		rtmpCPU := measure("rtmp://"+plain+"/live/cost", &rtmp.Dialer{}, n)
		tlsCPU := measure("rtmps://"+secure+"/live/cost", &rtmp.Dialer{TLSConfig: &tls.Config{InsecureSkipVerify: true}}, n)
		pct := func(d time.Duration) float64 { return 100 * float64(max(d-idle, 0)) / float64(window) }
		b.ReportMetric(pct(rtmpCPU), "rtmp-cpu%/100players")
		b.ReportMetric(pct(tlsCPU), "rtmps-cpu%/100players")
		if r := pct(rtmpCPU); r > 0 {
			b.ReportMetric(pct(tlsCPU)/r, "rtmps/rtmp")
		}
		b.Logf("server CPU over %s: idle %s, %d RTMP players %s, %d RTMPS players %s", window, idle, n, rtmpCPU, n, tlsCPU)
	}
}

// costPublish publishes a synthetic stream of ≈ 1 Mbit/s (25 fps of 5 KB
// frames, a keyframe a second) to url until ctx ends.
func costPublish(ctx context.Context, url string) {
	c, err := rtmp.Dial(ctx, url)
	if err != nil {
		return
	}
	defer c.Close()
	if c.Publish() != nil {
		return
	}
	c.WriteMessage(&rtmp.Message{Type: rtmp.TypeVideo, Payload: []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f}})
	frame := make([]byte, 5000)
	start := time.Now()
	for i := uint32(0); ctx.Err() == nil; i++ {
		frame[0] = 0x27
		if i%25 == 0 {
			frame[0] = 0x17
		}
		frame[1] = 1
		if c.WriteMessage(&rtmp.Message{Type: rtmp.TypeVideo, Timestamp: i * 40, Payload: frame}) != nil || c.Flush() != nil {
			return
		}
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * 40 * time.Millisecond)))
	}
}
