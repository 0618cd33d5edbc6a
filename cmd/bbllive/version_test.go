package main

import (
	"runtime/debug"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-12-02T04:01:34Z"}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "6c084b59b1c909f03b800609260ed4780614df1d"
	for _, tc := range []struct {
		name, ldflags string
		main          string
		settings      []debug.BuildSetting
		want          string
	}{
		{"plain go build outside a repository", "dev", "(devel)", nil, "dev go1.x"},
		{"go build in a clean clone", "dev", "v0.0.0-20261202040134-6c084b59b1c9", vcs(rev, "false"),
			"v0.0.0-20261202040134-6c084b59b1c9 (6c084b59b1c9 2026-12-02T04:01:34Z) go1.x"},
		{"make build with local changes", "6c084b5-dirty", "(devel)", vcs(rev, "true"),
			"6c084b5-dirty (6c084b59b1c9+dirty 2026-12-02T04:01:34Z) go1.x"},
		{"make build in a worktree, no VCS stamp", "v1.2.0", "(devel)", nil, "v1.2.0 go1.x"},
		{"go install module@version", "dev", "v1.2.0", nil, "v1.2.0 go1.x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := &debug.BuildInfo{GoVersion: "go1.x", Main: debug.Module{Version: tc.main}, Settings: tc.settings}
			if got := formatVersion(tc.ldflags, info); got != tc.want {
				t.Errorf("formatVersion(%q) = %q, want %q", tc.ldflags, got, tc.want)
			}
		})
	}
}
