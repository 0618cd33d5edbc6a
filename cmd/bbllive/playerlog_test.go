package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPlayerLogLines: a player of every protocol starts with a "playing"
// line and ends with a "session closed" line, with the attributes an RTMP
// player's lines have (session, peer, app, stream, protocol, in that
// order), so that one grep of the log finds who watched what and when
// they left. HTTP-FLV, WebSocket-FLV and fMP4 players had no line at all.
func TestPlayerLogLines(t *testing.T) {
	eachTransport(t, func(t *testing.T) {
		srv := startServer(t)
		startMetricsPub(t, srv.url("lines"), 300_000)
		players := []struct {
			protocol string
			play     func() error
		}{
			{"rtmp", func() error { return rtmpPlayOutcome(srv.url("lines")) }},
			{"http-flv", func() error { return httpPlayOutcome(srv.flvURL("lines")) }},
			{"ws-flv", func() error {
				w := dialWS(t, srv.http, "/live/lines.flv")
				defer w.c.Close()
				_, _, err := w.next()
				return err
			}},
			{"fmp4", func() error {
				resp, err := http.Get(srv.mp4URL("lines"))
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("HTTP %s", resp.Status)
				}
				_, err = readFMP4(resp.Body, 1)
				return err
			}},
		}
		var rtmpKeys []string
		for _, p := range players {
			t.Run(p.protocol, func(t *testing.T) {
				if err := p.play(); err != nil {
					t.Fatalf("playing: %v", err)
				}
				var started string
				waitFor(t, 5*time.Second, "a playing line with protocol="+p.protocol, func() bool {
					started = findLine(srv.logs.String(), "msg=playing ", " protocol="+p.protocol+" ")
					return started != ""
				})
				if got, want := fieldOf(started, "stream"), "live/lines"; got != want {
					t.Errorf("playing line %q: stream=%s, want %s", started, got, want)
				}
				if peer := fieldOf(started, "peer"); !strings.HasPrefix(peer, "127.0.0.1:") {
					t.Errorf("playing line %q: peer=%q, want the player's address", started, peer)
				}
				keys := logKeys(started)
				if p.protocol == "rtmp" {
					rtmpKeys = keys
				} else if !slices.Equal(keys, rtmpKeys) {
					t.Errorf("playing line has %v, an RTMP player's %v", keys, rtmpKeys)
				}
				session := " session=" + fieldOf(started, "session") + " "
				var ended string
				waitFor(t, 5*time.Second, "the player's session closed line", func() bool {
					ended = findLine(srv.logs.String(), `msg="session closed" `, session)
					return ended != ""
				})
				if logs := srv.logs.String(); strings.Index(logs, ended) < strings.Index(logs, started) {
					t.Errorf("the player's end was logged before its start")
				}
				if fieldOf(ended, "protocol") != p.protocol || fieldOf(ended, "reason") == "" {
					t.Errorf("end line %q: want protocol=%s and a reason", ended, p.protocol)
				}
				t.Logf("%s\n%s", started, ended)
			})
		}
	})
}

// logKeys are the attribute names of a text log line, in order, without
// time, level and msg.
func logKeys(line string) []string {
	var keys []string
	for _, f := range strings.Fields(line) {
		k, _, ok := strings.Cut(f, "=")
		if ok && k != "time" && k != "level" && k != "msg" && !strings.ContainsAny(k, `"`) {
			keys = append(keys, k)
		}
	}
	return keys
}
