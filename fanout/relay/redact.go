package relay

import (
	"net/url"
	"strings"
)

// redact is a URL as logs and metric labels may show it: the query
// (stream keys and tokens travel there), any user info and the last path
// segment of an app/name path (where platforms take the stream key:
// rtmp://live.twitch.tv/app/KEY) are cut; template segments ({name}) stay,
// and the path is shown as written ({app}, not %7Bapp%7D).
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
	path := u.Path
	if i := strings.LastIndexByte(path, '/'); i > 0 && i < len(path)-1 && !strings.Contains(path[i:], "{") {
		path = path[:i+1] + "…"
	}
	out := u.Scheme + "://" + u.Host + path
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}
