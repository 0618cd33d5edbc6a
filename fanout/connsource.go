package fanout

import "sync"

// ConnSource is a protocol whose viewers are not players of the hub but
// are listed and kicked beside them: an HLS viewer is a series of
// requests, which access control admits once and its HLS server keeps as
// a session. Its ids come from the same sequence as the players' (see
// Viewer.ID), so one id names one viewer whatever its protocol.
type ConnSource interface {
	// AppendConns appends a ConnInfo per viewer to dst.
	AppendConns(dst []ConnInfo) []ConnInfo
	// Kick ends the viewer whose id is id and reports what it was; ok is
	// false when none has that id.
	Kick(id uint64) (info ConnInfo, ok bool)
}

// connSources are the hub's ConnSources.
type connSources struct {
	mu   sync.Mutex
	list []*ConnSource
}

// AddConnSource lists src's viewers in Conns and lets Kick end them,
// until the returned remove is called.
func (h *Hub) AddConnSource(src ConnSource) (remove func()) {
	cs := &h.sources
	ref := &src
	cs.mu.Lock()
	cs.list = append(cs.list, ref)
	cs.mu.Unlock()
	return func() {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		for i, r := range cs.list {
			if r == ref {
				cs.list = append(cs.list[:i], cs.list[i+1:]...)
				return
			}
		}
	}
}

// all is a copy of the sources, to call without the lock.
func (cs *connSources) all() []ConnSource {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := make([]ConnSource, len(cs.list))
	for i, r := range cs.list {
		out[i] = *r
	}
	return out
}
