package bench

import (
	"slices"
	"strings"
	"testing"
)

func TestParseServerConfig(t *testing.T) {
	tests := []struct {
		in    string
		name  string
		flags []string
		err   string
	}{
		{"netpoll-100ms=-flush interval -flush-interval 100ms", "netpoll-100ms", []string{"-flush", "interval", "-flush-interval", "100ms"}, ""},
		{"plain=", "plain", nil, ""},
		{`q=-log-format "json" -x 'a b'`, "q", []string{"-log-format", "json", "-x", "a b"}, ""},
		{`e=-x ""`, "e", []string{"-x", ""}, ""},
		{"noequals", "", nil, "NAME=FLAGS"},
		{"=-flush message", "", nil, "NAME=FLAGS"},
		{"a b=-x", "", nil, "NAME=FLAGS"},
		{`u=-x "open`, "", nil, "unclosed"},
		{"f=floor -flush message", "f", []string{"-flush", "message"}, ""},
	}
	for _, tt := range tests {
		got, err := ParseServerConfig(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got.Name != tt.name || !slices.Equal(got.Flags, tt.flags) || got.Floor != strings.Contains(tt.in, "floor") {
			t.Errorf("%q: %+v %v, want %s %q", tt.in, got, err, tt.name, tt.flags)
		}
	}
}

func TestLookupPreset(t *testing.T) {
	all, err := LookupPreset("all")
	if err != nil || len(all) != len(Presets) {
		t.Fatalf("all: %d, %v", len(all), err)
	}
	np, err := LookupPreset("netpoll")
	if err != nil || len(np) != 4 || np[0].Name != "netpoll-msg" {
		t.Fatalf("netpoll group: %+v, %v", np, err)
	}
	one, err := LookupPreset("netpoll-350ms")
	if err != nil || len(one) != 1 || !slices.Contains(one[0].Flags, "350ms") {
		t.Fatalf("netpoll-350ms: %+v, %v", one, err)
	}
	floor, err := LookupPreset("floor")
	if err != nil || len(floor) != 4 || !floor[0].Floor || !slices.Equal(floor[0].Command(), []string{"bench", "floor"}) || slices.Contains(floor[0].Flags, "-io") {
		t.Fatalf("floor group: %+v, %v", floor, err)
	}
	if np[0].Floor || !slices.Equal(np[0].Command(), []string{"serve"}) {
		t.Fatalf("netpoll-msg runs %q", np[0].Command())
	}
	// The flv group has RTMP, HTTP-FLV and WebSocket-FLV players at every
	// flush setting, each the same io_uring server.
	flvs, err := LookupPreset("flv")
	if err != nil || len(flvs) != 3*len(flushFlags) {
		t.Fatalf("flv group: %d configurations, %v", len(flvs), err)
	}
	for i, f := range flushFlags {
		for j, play := range []string{"", PlayHTTPFLV, PlayWSFLV} {
			sc := flvs[3*i+j]
			if sc.Play != play || !strings.HasSuffix(sc.Name, "-"+f.suffix) || !slices.Equal(sc.Flags, append([]string{"-io", "uring"}, f.flags...)) {
				t.Errorf("flv group %d: %+v, want %q players at %s", 3*i+j, sc, play, f.suffix)
			}
		}
	}
	// Several names, in the order given.
	pair, err := LookupPreset("uring-350ms, httpflv-350ms")
	if err != nil || len(pair) != 2 || pair[0].Name != "uring-350ms" || pair[1].Name != "httpflv-350ms" || pair[1].Play != PlayHTTPFLV {
		t.Fatalf("uring-350ms,httpflv-350ms: %+v, %v", pair, err)
	}
	if _, err := LookupPreset("uring-350ms,nope"); err == nil {
		t.Fatal("a list with an unknown name: no error")
	}
	// Every group names presets that exist.
	for g := range PresetGroups {
		if _, err := LookupPreset(g); err != nil {
			t.Errorf("group %s: %v", g, err)
		}
	}
	if _, err := LookupPreset("nope"); err == nil || !strings.Contains(err.Error(), "netpoll-msg") {
		t.Fatalf("unknown preset: %v (should list the presets)", err)
	}
}

func TestExpandName(t *testing.T) {
	tests := []struct {
		pattern string
		i       int
		want    string
		err     bool
	}{
		{"rtmp://h/live/s_{i}", 7, "rtmp://h/live/s_7", false},
		{"rtmp://h/live/s_{i%4}", 7, "rtmp://h/live/s_3", false},
		{"rtmp://h/live/{i}/{i%2}", 5, "rtmp://h/live/5/1", false},
		{"rtmp://h/live/fixed", 5, "rtmp://h/live/fixed", false},
		{"rtmp://h/live/{i", 0, "", true},
		{"rtmp://h/live/{j}", 0, "", true},
		{"rtmp://h/live/{i%0}", 0, "", true},
		{"rtmp://h/live/{i%x}", 0, "", true},
	}
	for _, tt := range tests {
		got, err := ExpandName(tt.pattern, tt.i)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ExpandName(%q, %d) = %q, %v", tt.pattern, tt.i, got, err)
		}
	}
}

func TestStartServerRefusesListen(t *testing.T) {
	for _, flags := range [][]string{{"-listen", ":1935"}, {"--listen=:1935"}, {"-listen=0.0.0.0:1"}} {
		if _, err := StartServer(t.Context(), "/bin/false", ServerConfig{Name: "x", Flags: flags}); err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("%q: %v", flags, err)
		}
	}
}
