package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Origin is one upstream server, after DNS: the URL an edge dials.
type Origin struct {
	// URL is scheme://host:port with host an address (or the name, when
	// it is an IP literal already), e.g. "rtmp://10.0.0.5:1935".
	URL string
	// Addr is host:port, the origin's identity in the ranking.
	Addr string
	// Entry is the list entry it came from, for logs.
	Entry string
}

// Entry is one item of an origin list as the user wrote it.
type Entry struct {
	Scheme string // "rtmp" or "rtmps"
	Host   string // a name or an IP literal
	Port   string
	Raw    string
}

// DefaultPorts are the ports of the schemes an origin list takes.
var DefaultPorts = map[string]string{"rtmp": "1935", "rtmps": "443"}

// ParseList parses a comma-separated origin list
// ("rtmp://o1:1935,rtmps://o2,o3"); a bare host means rtmp. An entry with a
// path, a query or user info is refused: the stream's own path is appended
// when pulling.
func ParseList(list string) ([]Entry, error) {
	var out []Entry
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		e, err := parseEntry(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, errors.New("origin list: no origins")
	}
	return out, nil
}

func parseEntry(raw string) (Entry, error) {
	s := raw
	if !strings.Contains(s, "://") {
		s = "rtmp://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return Entry{}, fmt.Errorf("origin %q: %w", raw, err)
	}
	port, ok := DefaultPorts[u.Scheme]
	if !ok {
		return Entry{}, fmt.Errorf("origin %q: scheme %q, want rtmp or rtmps", raw, u.Scheme)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return Entry{}, fmt.Errorf("origin %q: want scheme://host[:port] only, no user, path or query", raw)
	}
	if u.Hostname() == "" {
		return Entry{}, fmt.Errorf("origin %q: no host", raw)
	}
	if err := checkPort(u); err != nil {
		return Entry{}, fmt.Errorf("origin %q: %w", raw, err)
	}
	if p := u.Port(); p != "" {
		port = p
	}
	return Entry{Scheme: u.Scheme, Host: u.Hostname(), Port: port, Raw: raw}, nil
}

// checkPort refuses a port no TCP address has (url.Parse takes any
// digits), which would otherwise fail only at every dial.
func checkPort(u *url.URL) error {
	p := u.Port()
	if p == "" {
		return nil
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q: want 1..65535", p)
	}
	return nil
}

// Resolver looks names up; *net.Resolver is one.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Set is the current origins of a list, re-resolved on Refresh. It is safe
// for concurrent use.
type Set struct {
	entries  []Entry
	resolver Resolver

	mu      sync.Mutex
	origins []Origin
	byAddr  map[string]Origin
}

// NewSet makes the set of entries; nil resolver means net.DefaultResolver.
// Call Refresh before the first Rank.
func NewSet(entries []Entry, r Resolver) *Set {
	if r == nil {
		r = net.DefaultResolver
	}
	return &Set{entries: entries, resolver: r}
}

// Refresh resolves every entry again. An entry that fails to resolve keeps
// the addresses it had (a DNS blip must not move streams); the error names
// it. It reports whether the set changed.
func (s *Set) Refresh(ctx context.Context) (changed bool, err error) {
	s.mu.Lock()
	old := s.byAddr
	s.mu.Unlock()
	byAddr := map[string]Origin{}
	var errs []error
	for _, e := range s.entries {
		addrs, lerr := s.lookup(ctx, e)
		if lerr != nil {
			errs = append(errs, fmt.Errorf("origin %s: %w", e.Raw, lerr))
			for a, o := range old {
				if o.Entry == e.Raw {
					byAddr[a] = o
				}
			}
			continue
		}
		for _, a := range addrs {
			addr := net.JoinHostPort(a, e.Port)
			byAddr[addr] = Origin{URL: e.Scheme + "://" + addr, Addr: addr, Entry: e.Raw}
		}
	}
	origins := make([]Origin, 0, len(byAddr))
	for _, o := range byAddr {
		origins = append(origins, o)
	}
	slices.SortFunc(origins, func(a, b Origin) int { return strings.Compare(a.Addr, b.Addr) })
	s.mu.Lock()
	changed = !slices.Equal(origins, s.origins)
	s.origins, s.byAddr = origins, byAddr
	s.mu.Unlock()
	return changed, errors.Join(errs...)
}

func (s *Set) lookup(ctx context.Context, e Entry) ([]string, error) {
	if ip := net.ParseIP(e.Host); ip != nil {
		return []string{ip.String()}, nil
	}
	return s.resolver.LookupHost(ctx, e.Host)
}

// Origins returns the current origins sorted by address.
func (s *Set) Origins() []Origin {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.origins)
}

// Rank returns the current origins in the order an edge tries them for
// the stream key: its owner first.
func (s *Set) Rank(key string) []Origin {
	s.mu.Lock()
	addrs := make([]string, len(s.origins))
	for i, o := range s.origins {
		addrs[i] = o.Addr
	}
	byAddr := s.byAddr
	s.mu.Unlock()
	ranked := Rank(key, addrs)
	out := make([]Origin, len(ranked))
	for i, a := range ranked {
		out[i] = byAddr[a]
	}
	return out
}
