package main

import (
	"flag"
	"log/slog"
	"time"

	"github.com/bbllive/bbllive/fanout/access"
)

// accessSettings are the flags of access control and of the API's
// credential; all of them change on reload.
type accessSettings struct {
	secret, jwks                          string
	hookURL                               string
	hookTimeout                           time.Duration
	hookFailOpen                          bool
	hookConcurrency                       int
	publishAllow, publishDeny             string
	playAllow, playDeny                   string
	maxConnections, maxPlayers, maxStream int
	apiToken                              string
	apiAddr                               string // not reloadable: a listener
}

// register adds the access flags to fs.
func (a *accessSettings) register(fs *flag.FlagSet) {
	fs.StringVar(&a.secret, "auth-secret", "", "HS256 secret of signed tokens: publish and play then need ?token=… (see bbllive token); prefer the config file to the command line")
	fs.StringVar(&a.jwks, "auth-jwks", "", "JWKS file of public keys (RS256, ES256) whose tokens are accepted; also turns tokens on")
	fs.StringVar(&a.hookURL, "hook-url", "", "URL that receives a JSON POST per on_connect, on_publish, on_unpublish, on_play, on_stop; a non-2xx answer refuses")
	durationVar(fs, &a.hookTimeout, "hook-timeout", access.DefaultHookTimeout, "time a hook has to answer")
	fs.BoolVar(&a.hookFailOpen, "hook-fail-open", false, "admit when the hook does not answer (default: refuse)")
	fs.IntVar(&a.hookConcurrency, "hook-concurrency", access.DefaultHookConcurrency, "hook calls in flight at most")
	fs.StringVar(&a.publishAllow, "publish-allow", "", "comma-separated CIDRs that may publish (empty: any)")
	fs.StringVar(&a.publishDeny, "publish-deny", "", "comma-separated CIDRs that may not publish")
	fs.StringVar(&a.playAllow, "play-allow", "", "comma-separated CIDRs that may play (empty: any)")
	fs.StringVar(&a.playDeny, "play-deny", "", "comma-separated CIDRs that may not play")
	fs.IntVar(&a.maxConnections, "max-connections", 0, "most publishers and players at once, every protocol together")
	fs.IntVar(&a.maxPlayers, "max-players", 0, "most players of one stream")
	fs.IntVar(&a.maxStream, "max-streams", 0, "most streams published at once")
	fs.StringVar(&a.apiToken, "api-token", "", "bearer token the API and /metrics require (Authorization: Bearer …); without it /api/connections and control calls answer loopback clients only")
	fs.StringVar(&a.apiAddr, "api", "", "separate listen address for /metrics and the API (then -http serves playback and health only); empty: on -http")
}

// reloadableFlags are the flags a reload applies; any other flag that
// changed is named in the log and waits for a restart.
var reloadableFlags = map[string]bool{
	"auth-secret": true, "auth-jwks": true, "hook-url": true, "hook-timeout": true, "hook-fail-open": true,
	"hook-concurrency": true, "publish-allow": true, "publish-deny": true, "play-allow": true, "play-deny": true,
	"max-connections": true, "max-players": true, "max-streams": true, "api-token": true, "log-level": true,
	"forward": true, // relay.go: for streams published after the reload
}

// config is the access package's view of the settings.
func (a *accessSettings) config() access.Config {
	return access.Config{Secret: a.secret, JWKSFile: a.jwks, HookURL: a.hookURL, HookTimeout: a.hookTimeout,
		HookFailOpen: a.hookFailOpen, HookConcurrency: a.hookConcurrency,
		PublishAllow: a.publishAllow, PublishDeny: a.publishDeny, PlayAllow: a.playAllow, PlayDeny: a.playDeny,
		MaxConnections: a.maxConnections, MaxPlayersPerStream: a.maxPlayers, MaxStreams: a.maxStream}
}

// logAccess says, once at start and after each reload, what access control
// checks (never a secret).
func logAccess(log *slog.Logger, msg string, a *accessSettings) {
	log.Info(msg, "tokens", a.secret != "" || a.jwks != "", "hooks", a.hookURL != "", "hook_fail_open", a.hookFailOpen,
		"ip_lists", a.publishAllow != "" || a.publishDeny != "" || a.playAllow != "" || a.playDeny != "",
		"max_connections", a.maxConnections, "max_players", a.maxPlayers, "max_streams", a.maxStream,
		"api_token", a.apiToken != "")
}
