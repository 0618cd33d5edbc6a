package fanout

import (
	"context"
	"errors"
	"net/url"

	"github.com/bbllive/bbllive/fanout/access"
	"github.com/bbllive/bbllive/rtmp"
)

// Gate decides who may publish and play; *access.Controller is the one the
// server runs. A nil Gate admits everyone.
type Gate interface {
	Admit(ctx context.Context, r access.Request) (*access.Admission, error)
}

// SetGate puts g in front of every publish and play from now on. Call it
// before serving.
func (h *Hub) SetGate(g Gate) { h.gate = g }

// Admit is the one access check of every protocol: each entry (RTMP
// publish and play here, the HTTP viewers' handlers) calls it before
// attaching a client, on the client's own goroutine (it may wait for a
// hook), and calls the Admission's Done when the client goes. A refusal is
// an *access.Refusal (HTTP: answer Refusal.HTTPStatus()).
func (h *Hub) Admit(ctx context.Context, r access.Request) (*access.Admission, error) {
	if h.gate == nil {
		return nil, nil
	}
	return h.gate.Admit(ctx, r)
}

// admitRTMP is Admit for an RTMP session. A refusal comes back as an error
// that tells the session which onStatus to send.
func (h *Hub) admitRTMP(sess *rtmp.Session, action access.Action) (*access.Admission, error) {
	v := rtmpViewer(sess)
	adm, err := h.Admit(context.Background(), v.Request(action))
	if err != nil {
		return nil, rtmpRefusalOf(err, action)
	}
	return adm, nil
}

// rtmpViewer describes an RTMP session as a Viewer.
func rtmpViewer(sess *rtmp.Session) Viewer {
	v := Viewer{App: sess.App, Name: sess.Name, Query: rtmpQuery(sess), Protocol: ProtocolRTMP, ID: sess.ID}
	if a := sess.Conn().RemoteAddr(); a != nil {
		v.Remote = a.String()
	}
	return v
}

// rtmpRefusalOf turns an access refusal into the error that tells an RTMP
// session which onStatus to answer; other errors pass unchanged.
func rtmpRefusalOf(err error, action access.Action) error {
	var ref *access.Refusal
	if !errors.As(err, &ref) {
		return err
	}
	code := rtmp.CodePlayFailed
	if action == access.Publish {
		code = rtmp.CodePublishBadName
	}
	return &rtmpRefusal{ref: ref, code: code}
}

// rtmpQuery is where an RTMP client's parameters are: the stream name's
// query (rtmp://h/live/x?token=…, as ffmpeg and OBS send it), else the
// query of the connect URL (rtmp://h/live?token=…/x, as some encoders put
// it).
func rtmpQuery(sess *rtmp.Session) string {
	if sess.Query != "" {
		return sess.Query
	}
	if u, err := url.Parse(sess.TCURL); err == nil {
		return u.RawQuery
	}
	return ""
}

// rtmpRefusal is an access refusal as the RTMP session replies it.
type rtmpRefusal struct {
	ref  *access.Refusal
	code string
}

func (e *rtmpRefusal) Error() string { return "access refused: " + e.ref.Error() }
func (e *rtmpRefusal) Unwrap() error { return e.ref }

// StatusCode is the onStatus code the session refuses with.
func (e *rtmpRefusal) StatusCode() string { return e.code }

// sessionGate is what a Gate offers protocols whose viewers make many
// requests, each of which cannot be admitted anew (HLS): *access.Controller
// is one.
type sessionGate interface {
	Active() bool
	CheckAddress(action access.Action, remote string) error
}

// AccessActive reports whether the gate checks anything. HLS keeps
// sessions (one Admit per viewer) only then, and otherwise serves as it
// did before access control.
func (h *Hub) AccessActive() bool {
	g, ok := h.gate.(sessionGate)
	return ok && g.Active()
}

// CheckAddress applies the gate's address lists for action to remote, for
// a request that continues an admitted session; nil without a gate.
func (h *Hub) CheckAddress(action access.Action, remote string) error {
	if g, ok := h.gate.(sessionGate); ok {
		return g.CheckAddress(action, remote)
	}
	return nil
}

// SameCredentialsTakeover is the TakeoverFunc of -publish-takeover: a new
// publisher replaces the live one only when it presents the same
// credentials (access.SameCredentials), as a reconnecting encoder does.
func SameCredentialsTakeover(current, incoming *rtmp.Session) bool {
	cur, in := rtmpViewer(current), rtmpViewer(incoming)
	return access.SameCredentials(cur.Request(access.Publish), in.Request(access.Publish))
}
