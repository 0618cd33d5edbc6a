package hls

import (
	"testing"
	"time"
)

// Kicking a session by its viewer id ends it once; it stays in the table,
// marked, and is no longer listed.
func TestSessionsKick(t *testing.T) {
	var tab sessions
	now := time.Now()
	sid7 := tab.add(7, "live/a", "127.0.0.1:1", nil, now)
	tab.add(8, "live/b", "127.0.0.1:2", nil, now.Add(time.Second))
	for _, tc := range []struct {
		id     uint64
		wantOK bool
		want   string // the stream of the kicked session
	}{
		{0, false, ""}, // an unnumbered viewer is never kicked by id 0
		{9, false, ""},
		{7, true, "live/a"},
		{7, false, ""}, // already kicked
	} {
		info, ok := tab.kick(tc.id)
		if ok != tc.wantOK || info.Stream != tc.want {
			t.Errorf("kick(%d) = %+v, %v; want %v %q", tc.id, info, ok, tc.wantOK, tc.want)
		}
	}
	if ss := tab.get(sid7, "live/a"); ss == nil || !ss.kicked.Load() {
		t.Error("the kicked session is not kept, marked, until it idles out")
	}
	infos := tab.appendInfos(nil)
	if len(infos) != 1 || infos[0].ID != 8 || infos[0].Protocol != "hls" || infos[0].Peer != "127.0.0.1:2" {
		t.Errorf("listed %+v; want only viewer 8", infos)
	}
	tab.sweep(now.Add(time.Hour), time.Minute)
	if tab.len() != 0 {
		t.Errorf("%d sessions left after they idled out", tab.len())
	}
}
