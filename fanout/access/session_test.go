package access

import (
	"errors"
	"testing"
)

func TestActive(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want bool
	}{
		{"nothing", Config{}, false},
		{"secret", Config{Secret: "s"}, true},
		{"hook", Config{HookURL: "http://127.0.0.1:1/h"}, true},
		{"allow list", Config{PlayAllow: "10.0.0.0/8"}, true},
		{"deny list", Config{PublishDeny: "192.0.2.7"}, true},
		{"limit", Config{MaxPlayersPerStream: 3}, true},
	} {
		c, err := New(tc.cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Active(); got != tc.want {
			t.Errorf("%s: Active %v, want %v", tc.name, got, tc.want)
		}
		// A reload to nothing turns it off again.
		if err := c.Reload(Config{}); err != nil || c.Active() {
			t.Errorf("%s: still active after a reload to nothing (%v)", tc.name, err)
		}
		c.Close()
	}
}

func TestCheckAddress(t *testing.T) {
	c, err := New(Config{PlayAllow: "127.0.0.0/8", PlayDeny: "127.0.0.9"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		remote string
		action Action
		denied bool
	}{
		{"127.0.0.1:5000", Play, false},
		{"[::ffff:127.0.0.1]:5000", Play, false},
		{"127.0.0.9:5000", Play, true},
		{"192.0.2.1:5000", Play, true},
		{"not an address", Play, true},
		{"192.0.2.1:5000", Publish, false}, // the play lists only
	} {
		err := c.CheckAddress(tc.action, tc.remote)
		var ref *Refusal
		if tc.denied != (err != nil) || err != nil && (!errors.As(err, &ref) || ref.Reason != ReasonIPDenied) {
			t.Errorf("%s %s: %v, want denied=%v", tc.action, tc.remote, err, tc.denied)
		}
	}
	if n := counterValue(t, c.m.refused.WithLabelValues("play", ReasonIPDenied)); n != 3 {
		t.Errorf("%v ip_denied counted, want 3", n)
	}
}
