package relay

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Rule forwards the streams whose key ("app/name") matches Pattern to each
// of Targets (URL templates, see Pushes).
type Rule struct {
	// Pattern is a path.Match glob over "app/name"; "" matches every
	// stream. ParseRule turns a pattern without '/' (an app) into
	// "APP/*".
	Pattern string
	Targets []string
}

// ParseRule parses one -forward value, "[PATTERN=]URL[,URL…]". The pattern
// is only text before an '=' that comes before any "://": a target's
// query (a stream key) carries '=' too. A pattern without '/' names an
// app: "live" is "live/*".
func ParseRule(v string) (Rule, error) {
	var r Rule
	urls := v
	if eq := strings.IndexByte(v, '='); eq >= 0 {
		if sch := strings.Index(v, "://"); sch < 0 || eq < sch {
			r.Pattern, urls = strings.TrimSpace(v[:eq]), v[eq+1:]
			if r.Pattern == "" {
				return Rule{}, fmt.Errorf("%q: empty pattern before '=' (leave out \"PATTERN=\" to forward every stream)", redact(v))
			}
			if !strings.Contains(r.Pattern, "/") {
				r.Pattern += "/*"
			}
			if _, err := path.Match(r.Pattern, ""); err != nil {
				return Rule{}, fmt.Errorf("pattern %q: %w", r.Pattern, err)
			}
		}
	}
	targets, err := ParseTargets(urls)
	if err != nil {
		return Rule{}, err
	}
	if len(targets) == 0 {
		return Rule{}, errors.New("no target URL")
	}
	r.Targets = targets
	return r, nil
}

// Matches reports whether the stream key falls under r.
func (r Rule) Matches(key string) bool {
	if r.Pattern == "" {
		return true
	}
	ok, _ := path.Match(r.Pattern, key) // checked by ParseRule
	return ok
}

// String is r as ParseRule reads it.
func (r Rule) String() string {
	urls := strings.Join(r.Targets, ",")
	if r.Pattern == "" {
		return urls
	}
	return r.Pattern + "=" + urls
}

// TargetsFor is the union of the targets of every rule matching key, in
// rule order, each once.
func TargetsFor(rules []Rule, key string) []string {
	var out []string
	for _, r := range rules {
		if !r.Matches(key) {
			continue
		}
		for _, t := range r.Targets {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}
