package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// version is set by `make build` with -ldflags "-X main.version=…" (git
// describe); a plain `go build` leaves it "dev" and versionString falls
// back to what the Go toolchain embedded.
var version = "dev"

// versionString is what `bbllive version` prints and the start-up line
// logs: the version, the VCS revision the binary was built from (with
// "+dirty" when the tree had local changes), and the Go version.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return orDev(version)
	}
	return formatVersion(version, info)
}

// formatVersion composes versionString from an -ldflags version (may be
// empty) and the binary's build information.
func formatVersion(ldflags string, info *debug.BuildInfo) string {
	v := ldflags
	if v == "dev" {
		v = ""
	}
	if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version // go install module@version
	}
	var rev, modified, when string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			when = s.Value
		}
	}
	parts := []string{orDev(v)}
	if rev != "" {
		r := rev[:min(12, len(rev))]
		if modified == "true" {
			r += "+dirty"
		}
		if when != "" {
			r += " " + when
		}
		parts = append(parts, "("+r+")")
	}
	parts = append(parts, info.GoVersion)
	return strings.Join(parts, " ")
}

func orDev(v string) string {
	if v == "" {
		return "dev"
	}
	return v
}

func runVersion([]string) int {
	fmt.Println("bbllive", versionString())
	return 0
}
