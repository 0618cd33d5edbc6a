package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nginxCacheConf is a caching reverse proxy as a CDN edge would be set up
// in front of the server: everything the origin allows is cached, and
// nothing else in the config decides what is.
const nginxCacheConf = `daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	proxy_cache_path %[1]s/cache levels=1:2 keys_zone=hls:10m max_size=64m inactive=5m use_temp_path=off;
	server {
		listen 127.0.0.1:%[2]d;
		location / {
			proxy_pass http://%[3]s;
			proxy_http_version 1.1;
			proxy_cache hls;
			proxy_cache_lock on;
			add_header X-Cache-Status $upstream_cache_status always;
		}
	}
}
`

// startNginx runs Debian's nginx as a caching proxy in front of origin on
// a free loopback port, its files in a temporary folder; it returns the
// proxy's base URL.
func startNginx(t *testing.T, origin string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		t.Skipf("nginx not installed (apt-get install nginx): %v", err)
	}
	dir := t.TempDir()
	for attempt := 0; attempt < 3; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0") // nginx cannot report a port 0 choice: take one free now
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxCacheConf, dir, port, origin)), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() { cancel(); <-exited })
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
				t.Logf("nginx exited (port %d taken?): %s %s", port, stderr.String(), log)
				deadline = time.Time{}
				continue
			default:
			}
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				c.Close()
				return base
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Fatal("nginx did not start")
	return ""
}

// cacheGet fetches url and returns the body and nginx's cache status.
func cacheGet(t *testing.T, url string) ([]byte, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s: %s %v", url, resp.Status, err)
	}
	return b, resp.Header.Get("X-Cache-Status")
}

// TestHLSThroughNginxCache puts a real nginx proxy_cache in front of the
// server: segments, parts and init segments are served from the cache
// the second time, playlists never are.
func TestHLSThroughNginxCache(t *testing.T) {
	srv, direct, _ := startHLS(t, "cdn")
	edge := startNginx(t, srv.http)
	base := edge + "/live/cdn/"
	pl, err := fetchPlaylist(base + "index.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	last := pl.Segments[len(pl.Segments)-1]
	for _, uri := range []string{last.Map, last.URI, last.Parts[0].URI} {
		first, st1 := cacheGet(t, base+uri)
		second, st2 := cacheGet(t, base+uri)
		origin, _ := cacheGet(t, strings.TrimSuffix(direct, "index.m3u8")+uri)
		t.Logf("%s: %s then %s", uri, st1, st2)
		if st2 != "HIT" {
			t.Errorf("%s: second fetch %q from nginx, want HIT", uri, st2)
		}
		if !bytes.Equal(first, second) || !bytes.Equal(first, origin) {
			t.Errorf("%s: the cache's bytes differ from the origin's", uri)
		}
	}
	// Playlists, plain and blocking, always come from the origin.
	next := fmt.Sprintf("index.m3u8?_HLS_msn=%d&_HLS_part=0", last.MSN+1)
	for _, uri := range []string{"index.m3u8", "index.m3u8", next, next} {
		b, st := cacheGet(t, base+uri)
		if st == "HIT" {
			t.Errorf("%s came from the cache", uri)
		}
		if !bytes.HasPrefix(b, []byte("#EXTM3U")) {
			t.Errorf("%s: not a playlist", uri)
		}
	}
}
