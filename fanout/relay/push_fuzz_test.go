package relay

import (
	"regexp"
	"strings"
	"testing"

	"github.com/bbllive/bbllive/rtmp"
)

// FuzzForwardTargets: any -forward list parses or is refused, never
// panics; every accepted target, filled in for a stream, is a URL the
// RTMP dialer takes, with the stream's name in it unless the template
// fixed its own path.
func FuzzForwardTargets(f *testing.F) {
	for _, s := range []string{"rtmp://a:1935", "rtmps://b/x/{name}?k=1", "rtmp://h/{app}/{name}", "http://a", "rtmp://", ",rtmp://c/"} {
		f.Add(s, "live/x", "token=t")
	}
	f.Fuzz(func(t *testing.T, list, key, query string) {
		targets, err := ParseTargets(list)
		if err != nil || !streamKey.MatchString(key) || !safeQuery.MatchString(query) {
			return // keys and queries come from parsed RTMP URLs
		}
		for _, tmpl := range targets {
			u := TargetURL(tmpl, key, query)
			if strings.Contains(tmpl, "{name}") || !strings.Contains(tmpl[strings.Index(tmpl, "://")+3:], "/") {
				if _, _, _, err := rtmp.ParseURL(u); err != nil {
					t.Fatalf("TargetURL(%q, %q, %q) = %q, which does not dial: %v", tmpl, key, query, u, err)
				}
			}
		}
	})
}

var (
	streamKey = regexp.MustCompile(`^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$`)
	safeQuery = regexp.MustCompile(`^[A-Za-z0-9._~=&-]*$`)
)

// FuzzForwardRule: any -forward value parses or is refused, never panics;
// an accepted rule reads back from its String as itself and matches keys
// without panicking.
func FuzzForwardRule(f *testing.F) {
	for _, s := range []string{"rtmp://a", "live=rtmp://a,rtmps://b/{name}", "live/c*=rtmp://a/x/y?key=1", "=rtmp://a", "[=rtmp://a", "a=b=rtmp://c"} {
		f.Add(s, "live/x")
	}
	f.Fuzz(func(t *testing.T, v, key string) {
		r, err := ParseRule(v)
		if err != nil {
			return
		}
		again, err := ParseRule(r.String())
		if err != nil || again.Pattern != r.Pattern || strings.Join(again.Targets, ",") != strings.Join(r.Targets, ",") {
			t.Fatalf("ParseRule(%q) = %+v; its String %q reads back as %+v, %v", v, r, r.String(), again, err)
		}
		r.Matches(key)
	})
}
