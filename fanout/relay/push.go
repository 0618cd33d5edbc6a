package relay

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bbllive/bbllive/fanout"
)

// Pushes forwards every stream published on a hub to the targets of the
// rules matching it, one Forwarder per stream and target: the target's
// failure only costs its own reconnects, never the local stream.
//
// Targets are URL templates: rtmp:// or rtmps://host[:port]/app/name,
// where {app} and {name} are the published stream's; a URL without a path
// gets "/{app}/{name}". The publisher's query is appended.
type Pushes struct {
	// TLSConfig is used for rtmps:// targets.
	TLSConfig *tls.Config
	// Log receives a line per connect and loss.
	Log *slog.Logger
	// ConnectTimeout is each Forwarder's (DefaultForwardTimeout when 0).
	ConnectTimeout time.Duration
	// NetDial and NextID are each Forwarder's, whose connections are
	// listed among their stream's (Forwarder.AddLink).
	NetDial NetDial
	NextID  func() uint64

	ending background // forwarders saying goodbye

	mu     sync.Mutex
	rules  []Rule
	order  []string                // every template ever in a rule, first seen first
	totals map[string]*TargetStats // by target template
	live   map[*Forwarder]string   // running, with their template
}

// SetRules replaces the forwarding rules. Streams published from now on
// follow the new rules; forwards running keep going until their stream
// ends. It is safe to call while streams are being published.
func (ps *Pushes) SetRules(rules []Rule) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.init()
	ps.rules = slices.Clone(rules)
	for _, r := range rules {
		for _, t := range r.Targets {
			ps.total(t)
		}
	}
}

// Wait waits for the forwarders of streams that ended to finish.
func (ps *Pushes) Wait() { ps.ending.Wait() }

// Rules returns the rules in force.
func (ps *Pushes) Rules() []Rule {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return slices.Clone(ps.rules)
}

// TargetStats are one target's counters over every stream pushed to it.
type TargetStats struct {
	Target                 string // the template, credentials redacted
	Connects, Failures     uint64
	Messages, Bytes, Drops uint64
	Connected, Forwarding  int // connected now; forwarders running now
}

// ParseTargets checks a comma-separated -forward list.
func ParseTargets(list string) ([]string, error) {
	var out []string
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("forward target %q: %w", redact(raw), err)
		}
		if _, ok := DefaultPorts[u.Scheme]; !ok || u.Host == "" {
			return nil, fmt.Errorf("forward target %q: want rtmp:// or rtmps://host[:port][/app/name]", redact(raw))
		}
		if err := checkPort(u); err != nil {
			return nil, fmt.Errorf("forward target %q: %w", redact(raw), err)
		}
		if p := strings.Trim(u.Path, "/"); p != "" && !strings.Contains(p, "/") {
			// A path names app/name; one segment alone would be dialed as
			// an app with no stream name.
			return nil, fmt.Errorf("forward target %q: the path must be /app/name (or none: the stream's own)", redact(raw))
		}
		if strings.Contains(raw, "#") {
			// An RTMP URL has no fragment: the "#…" would end up in the
			// host or the stream name the target sees.
			return nil, fmt.Errorf("forward target %q: an RTMP URL has no #fragment", redact(raw))
		}
		out = append(out, raw)
	}
	return out, nil
}

// TargetURL is template filled in for the stream key ("app/name") and the
// publisher's query (appended to the template's own).
func TargetURL(template, key, query string) string {
	app, name, _ := strings.Cut(key, "/")
	base, tq, _ := strings.Cut(template, "?")
	if _, hostAndPath, ok := strings.Cut(base, "://"); ok && strings.Trim(hostAndPath[strings.IndexByte(hostAndPath+"/", '/'):], "/") == "" {
		base = strings.TrimSuffix(base, "/") + "/{app}/{name}"
	}
	u := strings.NewReplacer("{app}", app, "{name}", name).Replace(base)
	if q := strings.Trim(tq+"&"+query, "&"); q != "" {
		u += "?" + q
	}
	return u
}

// Hook is the fanout.PublishHook that starts a stream's forwarders, one
// per target of the rules matching it.
func (ps *Pushes) Hook(st *fanout.Stream, query string) (stop func(clean bool)) {
	ps.mu.Lock()
	targets := TargetsFor(ps.rules, st.Key())
	ps.mu.Unlock()
	if len(targets) == 0 {
		return nil
	}
	var fs []*Forwarder
	var untaps []func()
	for _, tmpl := range targets {
		f := &Forwarder{URL: TargetURL(tmpl, st.Key(), query), Stream: st.Key(), TLSConfig: ps.TLSConfig, Log: ps.Log,
			ConnectTimeout: ps.ConnectTimeout, NetDial: ps.NetDial, AddLink: st.AddLink, NextID: ps.NextID}
		ps.track(f, tmpl)
		f.Start()
		untaps = append(untaps, st.AddTap(&forwardTap{f}))
		fs = append(fs, f)
	}
	return func(clean bool) {
		for i, f := range fs {
			untaps[i]()
			// In the background: a hook must not block, and a goodbye
			// waits for its target (up to about a second).
			ps.ending.Go(func() {
				f.stopFor(clean)
				ps.untrack(f)
			})
		}
	}
}

func (ps *Pushes) track(f *Forwarder, tmpl string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.init()
	ps.live[f] = tmpl
}

// init makes the maps. Called with ps.mu held.
func (ps *Pushes) init() {
	if ps.live == nil {
		ps.live, ps.totals = map[*Forwarder]string{}, map[string]*TargetStats{}
	}
}

// untrack folds a finished forwarder's counters into its target's totals.
func (ps *Pushes) untrack(f *Forwarder) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	tmpl := ps.live[f]
	delete(ps.live, f)
	t := ps.total(tmpl)
	addStats(t, f)
}

// total is tmpl's totals. Called with ps.mu held.
func (ps *Pushes) total(tmpl string) *TargetStats {
	t := ps.totals[tmpl]
	if t == nil {
		t = &TargetStats{Target: redact(tmpl)}
		ps.totals[tmpl] = t
		ps.order = append(ps.order, tmpl)
	}
	return t
}

func addStats(t *TargetStats, f *Forwarder) {
	t.Connects += f.Stats.Connects.Load()
	t.Failures += f.Stats.Failures.Load()
	t.Messages += f.Stats.Messages.Load()
	t.Bytes += f.Stats.Bytes.Load()
	t.Drops += f.Stats.Dropped.Load()
}

// Stats returns every target's counters, in the order the rules first
// named them; a target dropped from the rules by SetRules keeps its line.
// Templates that differ only in what redaction hides (a query's stream
// key) share one line, as they share one metric label.
func (ps *Pushes) Stats() []TargetStats {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.init()
	var out []TargetStats
	index := map[string]int{} // by redacted target
	for _, tmpl := range ps.order {
		t := *ps.totals[tmpl]
		for f, tm := range ps.live {
			if tm != tmpl {
				continue
			}
			addStats(&t, f)
			t.Forwarding++
			if f.Stats.Connected.Load() {
				t.Connected++
			}
		}
		if i, ok := index[t.Target]; ok {
			mergeStats(&out[i], t)
			continue
		}
		index[t.Target] = len(out)
		out = append(out, t)
	}
	return out
}

func mergeStats(into *TargetStats, t TargetStats) {
	into.Connects += t.Connects
	into.Failures += t.Failures
	into.Messages += t.Messages
	into.Bytes += t.Bytes
	into.Drops += t.Drops
	into.Connected += t.Connected
	into.Forwarding += t.Forwarding
}
