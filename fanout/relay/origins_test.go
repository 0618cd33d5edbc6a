package relay

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestParseList(t *testing.T) {
	tests := []struct {
		in      string
		want    []string // scheme host port
		wantErr string
	}{
		{in: "rtmp://o1:1935,rtmp://o2:1936", want: []string{"rtmp o1 1935", "rtmp o2 1936"}},
		{in: " o1 , rtmps://o2 ,", want: []string{"rtmp o1 1935", "rtmps o2 443"}},
		{in: "rtmp://[::1]:19350", want: []string{"rtmp ::1 19350"}},
		{in: "", wantErr: "no origins"},
		{in: "http://o1", wantErr: "scheme"},
		{in: "rtmp://o1/live", wantErr: "no user, path or query"},
		{in: "rtmp://u:p@o1", wantErr: "no user, path or query"},
		{in: "rtmp://o1?x=1", wantErr: "no user, path or query"},
		{in: "rtmp://:1935", wantErr: "no host"},
		{in: "rtmp://o1:99999", wantErr: `port "99999": want 1..65535`},
		{in: "rtmp://o1:0", wantErr: `port "0": want 1..65535`},
		{in: "rtmps://o1:65535", want: []string{"rtmps o1 65535"}},
	}
	for _, tt := range tests {
		got, err := ParseList(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseList(%q) = %v, %v; want error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("ParseList(%q) = %v, %v", tt.in, got, err)
			continue
		}
		for i, e := range got {
			if s := e.Scheme + " " + e.Host + " " + e.Port; s != tt.want[i] {
				t.Errorf("ParseList(%q)[%d] = %s, want %s", tt.in, i, s, tt.want[i])
			}
		}
	}
}

// fakeResolver answers from a map a test changes between refreshes.
type fakeResolver map[string][]string

func (f fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func TestSetResolvesEachAddressAsAnOrigin(t *testing.T) {
	entries, err := ParseList("rtmp://origins.svc:1935,127.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	dns := fakeResolver{"origins.svc": {"10.1.0.1", "10.1.0.2"}}
	s := NewSet(entries, dns)
	ctx := context.Background()
	if changed, err := s.Refresh(ctx); err != nil || !changed {
		t.Fatalf("first Refresh: changed %v, %v", changed, err)
	}
	got := addrs(s.Origins())
	if got != "10.1.0.1:1935 10.1.0.2:1935 127.0.0.9:1935" {
		t.Fatalf("origins %s", got)
	}
	if changed, _ := s.Refresh(ctx); changed {
		t.Fatal("an unchanged answer reported a change")
	}
	owners := map[string]string{}
	for _, k := range []string{"live/a", "live/b", "live/c", "live/d", "live/e", "live/f"} {
		owners[k] = s.Rank(k)[0].Addr
	}

	// The orchestrator adds a pod: only streams that move to it move.
	dns["origins.svc"] = []string{"10.1.0.1", "10.1.0.2", "10.1.0.3"}
	if changed, err := s.Refresh(ctx); err != nil || !changed {
		t.Fatalf("Refresh after scale-up: changed %v, %v", changed, err)
	}
	for k, was := range owners {
		if now := s.Rank(k)[0]; now.Addr != was && now.Addr != "10.1.0.3:1935" {
			t.Errorf("%s moved from %s to %s", k, was, now.Addr)
		}
	}
	if o := s.Rank("live/a"); len(o) != 4 || !strings.HasPrefix(o[0].URL, "rtmp://") || o[0].Entry == "" {
		t.Errorf("Rank = %+v", o)
	}

	// A DNS failure keeps the addresses the entry had.
	delete(dns, "origins.svc")
	if _, err := s.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "origins.svc") {
		t.Fatalf("failed lookup gave %v", err)
	}
	if got := addrs(s.Origins()); got != "10.1.0.1:1935 10.1.0.2:1935 10.1.0.3:1935 127.0.0.9:1935" {
		t.Fatalf("after a DNS failure: %s", got)
	}
}

func addrs(os []Origin) string {
	var b []string
	for _, o := range os {
		b = append(b, o.Addr)
	}
	return strings.Join(b, " ")
}
