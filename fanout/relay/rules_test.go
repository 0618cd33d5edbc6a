package relay

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		in      string
		pattern string
		targets []string
		err     string
	}{
		{in: "rtmp://a", targets: []string{"rtmp://a"}},
		{in: "rtmp://a, rtmps://b/x/{name}", targets: []string{"rtmp://a", "rtmps://b/x/{name}"}},
		{in: "live=rtmp://a", pattern: "live/*", targets: []string{"rtmp://a"}},
		{in: "live/cam*=rtmp://a,rtmp://b", pattern: "live/cam*", targets: []string{"rtmp://a", "rtmp://b"}},
		{in: " news = rtmp://a", pattern: "news/*", targets: []string{"rtmp://a"}},
		// The '=' of a stream key's query is not a pattern's.
		{in: "rtmp://a/live/x?key=abc", targets: []string{"rtmp://a/live/x?key=abc"}},
		{in: "live=rtmp://a/live/x?key=abc", pattern: "live/*", targets: []string{"rtmp://a/live/x?key=abc"}},
		{in: "=rtmp://a", err: "empty pattern"},
		{in: "live[=rtmp://a", err: "syntax error in pattern"},
		{in: "live=", err: "no target"},
		{in: "live=http://a", err: "want rtmp://"},
		{in: "", err: "no target"},
	} {
		r, err := ParseRule(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseRule(%q) = %+v, %v; want an error with %q", tc.in, r, err, tc.err)
			}
			continue
		}
		if err != nil || r.Pattern != tc.pattern || !slices.Equal(r.Targets, tc.targets) {
			t.Errorf("ParseRule(%q) = %+v, %v; want pattern %q targets %q", tc.in, r, err, tc.pattern, tc.targets)
		}
	}
}

func TestTargetsFor(t *testing.T) {
	rules := []Rule{
		{Targets: []string{"rtmp://all"}},
		{Pattern: "live/*", Targets: []string{"rtmp://live", "rtmp://all"}},
		{Pattern: "live/cam?", Targets: []string{"rtmp://cams", "rtmp://live"}},
		{Pattern: "news/*", Targets: []string{"rtmp://news"}},
	}
	for key, want := range map[string][]string{
		"live/x":    {"rtmp://all", "rtmp://live"},
		"live/cam1": {"rtmp://all", "rtmp://live", "rtmp://cams"},
		"news/x":    {"rtmp://all", "rtmp://news"},
		"other/y":   {"rtmp://all"},
	} {
		if got := TargetsFor(rules, key); !slices.Equal(got, want) {
			t.Errorf("TargetsFor(%q) = %q, want %q", key, got, want)
		}
	}
	if got := TargetsFor(rules[1:], "other/y"); got != nil {
		t.Errorf("a stream no rule matches goes to %q", got)
	}
}

// TestPushesFollowRules: each published stream reaches the union of the
// targets of the rules matching it, a target named by two rules once; a
// stream published after SetRules follows the new rules while one already
// forwarded keeps its target.
func TestPushesFollowRules(t *testing.T) {
	all, lives, news := startOrigin(t), startOrigin(t), startOrigin(t)
	pushes := &Pushes{}
	pushes.SetRules([]Rule{
		{Targets: []string{"rtmp://" + all.addr}},
		{Pattern: "live/*", Targets: []string{"rtmp://" + lives.addr, "rtmp://" + all.addr}},
	})
	local := startOrigin(t)
	local.hub.OnPublish(pushes.Hook)
	local.publish(t, "live/a", 1)
	local.publish(t, "news/b", 2)
	waitFor(t, 5*time.Second, "live/a on both of its targets and news/b on the all target", func() bool {
		return liveOn(all, "live/a") && liveOn(lives, "live/a") && liveOn(all, "news/b")
	})
	if liveOn(lives, "news/b") {
		t.Fatal("news/b reached the target of the live rule")
	}
	st := pushes.Stats()
	if len(st) != 2 || st[0].Forwarding != 2 || st[1].Forwarding != 1 {
		t.Fatalf("stats %+v: want 2 forwards to the all target (one per stream: it is named twice for live/a) and 1 to the live one", st)
	}

	pushes.SetRules([]Rule{{Pattern: "news/*", Targets: []string{"rtmp://" + news.addr}}})
	local.publish(t, "news/c", 3)
	local.publish(t, "live/d", 4)
	waitFor(t, 5*time.Second, "news/c on the new rule's target", func() bool { return liveOn(news, "news/c") })
	time.Sleep(300 * time.Millisecond) // what the old rules would have started by now
	for _, o := range []*testOrigin{all, lives, news} {
		if liveOn(o, "live/d") {
			t.Fatal("live/d was forwarded though no rule in force matches it")
		}
	}
	if liveOn(all, "news/c") {
		t.Fatal("news/c went to a target of the replaced rules")
	}
	if !liveOn(all, "live/a") || !liveOn(lives, "live/a") {
		t.Fatal("SetRules cut a forward already running")
	}
	if st := pushes.Stats(); len(st) != 3 || st[2].Target != "rtmp://"+news.addr || st[2].Forwarding != 1 || st[0].Forwarding != 2 {
		t.Fatalf("stats after SetRules %+v: want the old targets kept and the new one third", st)
	}
}

// TestPushesStatsShareRedactedTarget: templates that differ only in a
// stream key in the query are one metric line (one label), summed.
func TestPushesStatsShareRedactedTarget(t *testing.T) {
	ps := &Pushes{}
	ps.SetRules([]Rule{
		{Pattern: "a/*", Targets: []string{"rtmp://cdn/app/x?key=1"}},
		{Pattern: "b/*", Targets: []string{"rtmp://cdn/app/x?key=2"}},
	})
	ps.totals["rtmp://cdn/app/x?key=1"].Bytes = 5
	ps.totals["rtmp://cdn/app/x?key=2"].Bytes = 7
	st := ps.Stats()
	if len(st) != 1 || st[0].Target != "rtmp://cdn/app/…?…" || st[0].Bytes != 12 {
		t.Fatalf("stats %+v: want one redacted line with 12 bytes", st)
	}
}
