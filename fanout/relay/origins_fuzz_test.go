package relay

import (
	"strings"
	"testing"
)

// FuzzParseList: any origin list parses or is refused, never panics, and
// what parses names a known scheme, a host and a port.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{"rtmp://o1:1935,rtmps://o2", "o1", "rtmp://[::1]:1", "rtmp://o1/live", ",,", "rtmp://%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		entries, err := ParseList(list)
		if err != nil {
			return
		}
		for _, e := range entries {
			if _, ok := DefaultPorts[e.Scheme]; !ok || e.Host == "" || e.Port == "" || strings.Contains(e.Raw, ",") {
				t.Fatalf("ParseList(%q) gave %+v", list, e)
			}
		}
	})
}
