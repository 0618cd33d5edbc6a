package access

import "testing"

func TestSameCredentials(t *testing.T) {
	req := func(query, remote string) Request {
		return Request{Action: Publish, App: "live", Name: "cam", Query: query, Remote: remote}
	}
	cases := []struct {
		name              string
		current, incoming Request
		want              bool
	}{
		{"same token, new address", req("token=abc", "192.0.2.1:5000"), req("token=abc", "198.51.100.9:6000"), true},
		{"other token", req("token=abc", "192.0.2.1:5000"), req("token=abd", "192.0.2.1:5001"), false},
		{"token against none", req("token=abc", "192.0.2.1:5000"), req("", "192.0.2.1:5001"), false},
		{"none against a key", req("", "192.0.2.1:5000"), req("key=1", "192.0.2.1:5001"), false},
		{"no credentials, same address", req("", "192.0.2.1:5000"), req("", "192.0.2.1:5001"), true},
		{"no credentials, mapped address", req("", "192.0.2.1:5000"), req("", "[::ffff:192.0.2.1]:5001"), true},
		{"no credentials, other address", req("", "192.0.2.1:5000"), req("", "192.0.2.2:5000"), false},
		{"no credentials, unknown address", req("", ""), req("", ""), false},
	}
	for _, tc := range cases {
		if got := SameCredentials(tc.current, tc.incoming); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
