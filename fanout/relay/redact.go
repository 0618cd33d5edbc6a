package relay

import "net/url"

// redact is a URL as logs may show it: the query (stream keys and tokens
// travel there) and any user info are cut.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}
