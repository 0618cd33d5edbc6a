package access

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Defaults of the hook settings.
const (
	DefaultHookTimeout     = 2 * time.Second
	DefaultHookConcurrency = 64
)

// Config is everything access control is set up with. The zero Config
// admits everyone, as the server did before access control existed.
type Config struct {
	// Secret turns signed tokens on: HS256 tokens signed with it are
	// accepted, and publishing and playing then need one.
	Secret string
	// JWKSFile, when set, names a JWKS file of public keys (RS256, ES256)
	// whose tokens are accepted too; it also turns tokens on.
	JWKSFile string

	// HookURL receives a JSON POST per event; "" turns hooks off.
	HookURL string
	// HookTimeout bounds each hook call (DefaultHookTimeout when 0).
	HookTimeout time.Duration
	// HookFailOpen admits a request whose hook did not answer (by default
	// such a request is refused). A non-2xx answer always refuses.
	HookFailOpen bool
	// HookConcurrency bounds the hook calls in flight
	// (DefaultHookConcurrency when 0).
	HookConcurrency int

	// PublishAllow, PublishDeny, PlayAllow and PlayDeny are each action's
	// address lists, comma-separated CIDRs (see ParseIPList). Deny wins; a
	// non-empty allow list admits only the addresses in it.
	PublishAllow, PublishDeny, PlayAllow, PlayDeny string

	// MaxConnections bounds the admitted publishers and players together,
	// MaxPlayersPerStream the players of one stream, MaxStreams the
	// streams being published; 0 is no limit.
	MaxConnections, MaxPlayersPerStream, MaxStreams int
}

// policy is a Config made ready to check against; it never changes, a
// reload swaps in a new one.
type policy struct {
	keys   keySet
	hook   *hookTarget // nil without hooks
	ip     map[Action]ipRule
	limits limits
	active bool // checksAnything, computed once (Controller.Active)
}

func (c Config) compile() (*policy, error) {
	p := &policy{ip: map[Action]ipRule{}}
	p.keys.secret = []byte(c.Secret)
	if c.JWKSFile != "" {
		keys, err := LoadJWKS(c.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("-auth-jwks: %w", err)
		}
		p.keys.public = keys
	}
	if c.HookURL != "" {
		u, err := url.Parse(c.HookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("-hook-url: want an http:// or https:// URL")
		}
		t := &hookTarget{url: c.HookURL, timeout: c.HookTimeout, failOpen: c.HookFailOpen}
		if t.timeout <= 0 {
			t.timeout = DefaultHookTimeout
		}
		n := c.HookConcurrency
		if n <= 0 {
			n = DefaultHookConcurrency
		}
		t.sem = make(chan struct{}, n)
		p.hook = t
	}
	lists := []struct {
		flag   string
		value  string
		action Action
		deny   bool
	}{{"-publish-allow", c.PublishAllow, Publish, false}, {"-publish-deny", c.PublishDeny, Publish, true},
		{"-play-allow", c.PlayAllow, Play, false}, {"-play-deny", c.PlayDeny, Play, true}}
	for _, l := range lists {
		ips, err := ParseIPList(l.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.flag, err)
		}
		r := p.ip[l.action]
		if l.deny {
			r.deny = ips
		} else {
			r.allow = ips
		}
		p.ip[l.action] = r
	}
	if c.MaxConnections < 0 || c.MaxPlayersPerStream < 0 || c.MaxStreams < 0 {
		return nil, errors.New("limits must not be negative (0 is no limit)")
	}
	p.limits = limits{conns: c.MaxConnections, players: c.MaxPlayersPerStream, streams: c.MaxStreams}
	p.active = p.checksAnything()
	return p, nil
}
