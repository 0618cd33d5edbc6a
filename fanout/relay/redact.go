package relay

import "net/url"

// redact is a URL as logs and metric labels may show it: the query
// (stream keys and tokens travel there) and any user info are cut, and the
// path is shown as written ({app}/{name} stay readable, not %7Bapp%7D).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	if u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return u.String()
	}
	out := u.Scheme + "://" + u.Host + u.Path
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}
