package access

import "fmt"

// limits are a policy's bounds; 0 is none.
type limits struct{ conns, players, streams int }

// counts are what is admitted now, across every protocol: what the limits
// bound. A request holds its place from admission until its Admission is
// done, so concurrent requests cannot overshoot a limit.
type counts struct {
	publishers, players int
	perStream           map[string]int // players by stream
	published           map[string]int // publishers by stream (more than one only briefly)
}

// reserve takes r's place or says which limit is reached. Called with the
// controller's lock held.
func (n *counts) reserve(l limits, r *Request) *Refusal {
	key := r.Stream()
	if l.conns > 0 && n.publishers+n.players >= l.conns {
		return refuse(ReasonMaxConnections, fmt.Sprintf("the server has its %d connections", l.conns))
	}
	switch r.Action {
	case Publish:
		if l.streams > 0 && n.published[key] == 0 && len(n.published) >= l.streams {
			return refuse(ReasonMaxStreams, fmt.Sprintf("the server has its %d streams", l.streams))
		}
		n.publishers++
		n.published[key]++
	case Play:
		if l.players > 0 && n.perStream[key] >= l.players {
			return refuse(ReasonMaxPlayers, fmt.Sprintf("%s has its %d players", key, l.players))
		}
		n.players++
		n.perStream[key]++
	}
	return nil
}

// release gives r's place back. Called with the controller's lock held.
func (n *counts) release(r *Request) {
	key := r.Stream()
	dec := func(m map[string]int) {
		if m[key]--; m[key] <= 0 {
			delete(m, key)
		}
	}
	switch r.Action {
	case Publish:
		n.publishers--
		dec(n.published)
	case Play:
		n.players--
		dec(n.perStream)
	}
}
