package access

import (
	"errors"
	"net/http"
)

// The reasons a request is refused: the label values of the refusal
// counter, and the word in every refusal's log line.
const (
	ReasonTokenMissing   = "token_missing"
	ReasonTokenInvalid   = "token_invalid"
	ReasonTokenExpired   = "token_expired"
	ReasonTokenAction    = "token_wrong_action"
	ReasonTokenStream    = "token_wrong_stream"
	ReasonIPDenied       = "ip_denied"
	ReasonHookRefused    = "hook_refused"
	ReasonHookFailed     = "hook_failed"
	ReasonMaxConnections = "max_connections"
	ReasonMaxPlayers     = "max_players"
	ReasonMaxStreams     = "max_streams"
)

// reasons lists every Reason, so the counter exports each at zero.
var reasons = []string{ReasonTokenMissing, ReasonTokenInvalid, ReasonTokenExpired, ReasonTokenAction,
	ReasonTokenStream, ReasonIPDenied, ReasonHookRefused, ReasonHookFailed, ReasonMaxConnections,
	ReasonMaxPlayers, ReasonMaxStreams}

// Refusal is why a request may not proceed. Its message is safe to send
// to the client and to log: it never contains the token.
type Refusal struct {
	// Reason is one of the Reason constants.
	Reason string
	// Detail says more, for the client and the log.
	Detail string
}

func (r *Refusal) Error() string {
	if r.Detail == "" {
		return r.Reason
	}
	return r.Reason + ": " + r.Detail
}

// HTTPStatus is the status an HTTP entry answers the refusal with: 401
// when the client did not prove who it is (no token, a bad or expired
// one), 503 when a limit is reached, 403 otherwise.
func (r *Refusal) HTTPStatus() int {
	switch r.Reason {
	case ReasonTokenMissing, ReasonTokenInvalid, ReasonTokenExpired:
		return http.StatusUnauthorized
	case ReasonMaxConnections, ReasonMaxPlayers, ReasonMaxStreams:
		return http.StatusServiceUnavailable
	}
	return http.StatusForbidden
}

func refuse(reason, detail string) *Refusal { return &Refusal{Reason: reason, Detail: detail} }

// HTTPStatusOf is the status an HTTP entry answers a failed Admit with:
// the refusal's HTTPStatus, or 500 for any other error.
func HTTPStatusOf(err error) int {
	var r *Refusal
	if errors.As(err, &r) {
		return r.HTTPStatus()
	}
	return http.StatusInternalServerError
}
