package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/fanout/hls/hlstest"
)

// HLSCounters are what an HLS load has done so far.
type HLSCounters struct {
	Playlists uint64 // playlist responses (blocking reloads included)
	Parts     uint64 // part responses
	Bytes     uint64 // bodies received
	Errors    uint64 // failed requests
	Late      uint64 // blocking reloads that returned 503 (nothing new in time)
}

// Requests is every request answered, good or not.
func (c HLSCounters) Requests() uint64 { return c.Playlists + c.Parts + c.Errors }

// Sub is c minus an earlier snapshot.
func (c HLSCounters) Sub(o HLSCounters) HLSCounters {
	return HLSCounters{c.Playlists - o.Playlists, c.Parts - o.Parts, c.Bytes - o.Bytes, c.Errors - o.Errors, c.Late - o.Late}
}

// HLSLoad is N LL-HLS clients of one playlist, each doing what a
// low-latency player does: a blocking reload for the part the preload
// hint names, then a fetch of every part it has not had yet. Each client
// times every new part it gets against the part's place in the
// playlist's EXT-X-PROGRAM-DATE-TIME, which is how far behind live a
// native (iPhone-style) LL-HLS client has it.
type HLSLoad struct {
	playlists, parts, bytes, errors, late atomic.Uint64
	lastErr                               atomic.Value // string
	partHoldBack                          atomic.Int64 // ns, from the last playlist
	latency                               *latencyHistogram
	wg                                    sync.WaitGroup
	n                                     int
	// listed and started count the clients that have had a playlist and
	// their first part: until every client has, a window measures clients
	// that are still starting (an idle remuxer's first playlist takes
	// seconds).
	listed, started atomic.Int64
}

// StartHLSLoad starts n clients of playlist (http://…/index.m3u8) on
// loopback; they run until ctx ends. Clients start spread over ramp.
func StartHLSLoad(ctx context.Context, playlist string, n int, ramp time.Duration) *HLSLoad {
	l := &HLSLoad{latency: newLatencyHistogram(), n: n}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        2 * n,
		MaxIdleConnsPerHost: 2 * n,
		IdleConnTimeout:     time.Minute,
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for i := range n {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(ramp * time.Duration(i) / time.Duration(max(n, 1))):
			}
			l.client(ctx, client, playlist)
		}()
	}
	go func() { l.wg.Wait(); tr.CloseIdleConnections() }()
	return l
}

// WaitStarted waits until every client has received its first part, at
// most timeout; the error says how many did not, how far they got and
// the last failure.
func (l *HLSLoad) WaitStarted(ctx context.Context, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for l.started.Load() < int64(l.n) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return notStarted(l.n, int(l.listed.Load()), int(l.started.Load()), timeout, l.LastError())
		case <-tick.C:
		}
	}
	return nil
}

// notStarted is WaitStarted's error: n clients, listed of which had a
// playlist and started a part, within d.
func notStarted(n, listed, started int, d time.Duration, lastErr string) error {
	why := fmt.Sprintf("%d had a playlist but no new part", listed-started)
	if listed < n {
		why = fmt.Sprintf("%d got no playlist, ", n-listed) + why
	}
	if lastErr == "" {
		lastErr = "none (no response yet)"
	}
	return fmt.Errorf("%d of %d clients got no part within %s (%s; last error: %s)", n-started, n, d, why, lastErr)
}

// Wait blocks until every client has stopped.
func (l *HLSLoad) Wait() { l.wg.Wait() }

// Counters is a snapshot of the load's totals.
func (l *HLSLoad) Counters() HLSCounters {
	return HLSCounters{l.playlists.Load(), l.parts.Load(), l.bytes.Load(), l.errors.Load(), l.late.Load()}
}

// MarkLatency starts the latency window: parts got before it are
// forgotten, so a measurement leaves out the clients' start.
func (l *HLSLoad) MarkLatency() { l.latency.reset() }

// Latency is how far behind live the clients got their parts since
// MarkLatency, in milliseconds over every part of every client: the time
// a part's last byte arrived minus the time its first sample went live
// (its segment's EXT-X-PROGRAM-DATE-TIME plus the parts before it). A
// part is listed only once complete, so this includes the part's own
// duration, as it does for any LL-HLS client.
func (l *HLSLoad) Latency() Summary { return l.latency.summary() }

// PartHoldBack is the playlists' PART-HOLD-BACK: how far behind the
// newest part a low-latency player keeps its playhead (0 if none seen).
func (l *HLSLoad) PartHoldBack() time.Duration { return time.Duration(l.partHoldBack.Load()) }

// LastError is the most recent failure, "" if none.
func (l *HLSLoad) LastError() string {
	s, _ := l.lastErr.Load().(string)
	return s
}

// hintPart reads "EPOCH-MSN.PART.m4s".
var hintPart = regexp.MustCompile(`-(\d+)\.(\d+)\.m4s$`)

func (l *HLSLoad) client(ctx context.Context, c *http.Client, playlist string) {
	base := playlist[:strings.LastIndexByte(playlist, '/')+1]
	seen := map[string]bool{}
	url := playlist
	first, started := true, false
	for ctx.Err() == nil {
		body, code, err := l.get(ctx, c, url)
		if err != nil || code != 200 {
			if code == http.StatusServiceUnavailable {
				l.late.Add(1)
			}
			l.fail(ctx, fmt.Errorf("%s: %d %v", url, code, err))
			url = playlist
			continue
		}
		l.playlists.Add(1)
		pl, err := hlstest.Parse(body)
		if err != nil {
			l.fail(ctx, err)
			continue
		}
		if first {
			l.listed.Add(1)
		}
		l.partHoldBack.Store(int64(pl.PartHoldBack * float64(time.Second)))
		live := partLiveTimes(pl)
		parts := listedParts(pl)
		now := map[string]bool{}
		for _, p := range parts {
			now[p] = true
			if seen[p] || first { // a player starting live skips what is already there
				continue
			}
			if _, code, err := l.get(ctx, c, base+p); err != nil || code != 200 {
				l.fail(ctx, fmt.Errorf("%s: %d %v", p, code, err))
				continue
			}
			arrived := time.Now()
			l.parts.Add(1)
			if !started {
				started = true
				l.started.Add(1)
			}
			if t, ok := live[p]; ok {
				l.latency.add(arrived.Sub(t))
			}
		}
		seen, first = now, false
		m := hintPart.FindStringSubmatch(pl.PreloadHint)
		if m == nil {
			l.fail(ctx, fmt.Errorf("no preload hint in %s", playlist))
			url = playlist
			continue
		}
		url = fmt.Sprintf("%s?_HLS_msn=%s&_HLS_part=%s", playlist, m[1], m[2])
	}
}

// listedParts is every part URI of a playlist in order.
func listedParts(pl *hlstest.Playlist) []string {
	var out []string
	for _, s := range pl.Segments {
		for _, p := range s.Parts {
			out = append(out, p.URI)
		}
	}
	for _, p := range pl.Pending {
		out = append(out, p.URI)
	}
	return out
}

func (l *HLSLoad) get(ctx context.Context, c *http.Client, url string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	l.bytes.Add(uint64(len(b)))
	return b, resp.StatusCode, err
}

// fail counts an error (not one caused by the load ending) and pauses
// the client briefly, as players back off.
func (l *HLSLoad) fail(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	l.errors.Add(1)
	l.lastErr.Store(err.Error())
	select {
	case <-ctx.Done():
	case <-time.After(200 * time.Millisecond):
	}
}
