package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bpf"
	"golang.org/x/sys/unix"
)

// unitFile is the systemd unit shipped in the repository.
const unitFile = "../../contrib/systemd/bbllive.service"

// unitConfig is the example configuration the unit reads; the install
// steps copy it to /etc/bbllive/bbllive.yaml.
const unitConfig = "../../contrib/systemd/bbllive.yaml"

// unitBinary is where the unit expects the binary (README's install steps).
const unitBinary = "/usr/local/bin/bbllive"

// readUnit returns the [Service] section's settings, each key with every
// value it is given (systemd keys such as AmbientCapabilities accumulate).
func readUnit(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
		case section == "Service":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: line %q is not key=value", unitFile, line)
			}
			out[k] = append(out[k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// unitWithBinary writes a copy of the unit whose ExecStart runs bin, since
// systemd-analyze verify insists the command exists.
func unitWithBinary(t *testing.T, bin string) string {
	t.Helper()
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "ExecStart="+unitBinary+" ") {
		t.Fatalf("%s: ExecStart does not run %s", unitFile, unitBinary)
	}
	p := filepath.Join(t.TempDir(), "bbllive.service")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), unitBinary, bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func systemdVerify(t *testing.T, unit string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemd-analyze", "verify", unit).CombinedOutput()
	// Complaints about other units installed on the machine are not ours.
	var ours []string
	for l := range strings.SplitSeq(string(out), "\n") {
		if strings.Contains(l, "bbllive") {
			ours = append(ours, l)
		}
	}
	return strings.Join(ours, "\n"), err
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the shipped unit
// (with ExecStart pointing at a freshly built binary): no error and no
// warning about it. The unit as shipped, whose binary is not installed
// here, must fail, which shows the check can fail at all.
func TestSystemdUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("needs systemd-analyze (Debian package systemd; .ci/deps.sh installs it): ", err)
	}
	if _, err := os.Stat(unitBinary); err == nil {
		t.Logf("%s exists here; the negative check is skipped", unitBinary)
	} else {
		out, err := systemdVerify(t, unitFile)
		if err == nil || !strings.Contains(out, "not executable") {
			t.Errorf("verify of the unit without its binary: err %v, output %q; want it refused", err, out)
		}
	}
	out, err := systemdVerify(t, unitWithBinary(t, serverBinary(t)))
	if err != nil || out != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// maxExposure bounds systemd-analyze security's score for the unit (0 is
// locked down, 10 is unprotected; 3.2 when written). It keeps hardening
// from being dropped unnoticed.
const maxExposure = 4.0

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// TestSystemdUnitExposure scores the unit's sandboxing offline.
func TestSystemdUnitExposure(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("needs systemd-analyze (Debian package systemd; .ci/deps.sh installs it): ", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemd-analyze", "security", "--offline=yes", unitWithBinary(t, serverBinary(t))).CombinedOutput()
	if err != nil && strings.Contains(string(out), "--offline") {
		t.Skipf("needs systemd-analyze security --offline (systemd 250+): %s", out)
	}
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v: no exposure level in:\n%s", err, out)
	}
	score, perr := strconv.ParseFloat(string(m[1]), 64)
	if perr != nil || score > maxExposure {
		t.Errorf("exposure %s, want at most %.1f:\n%s", m[1], maxExposure, out)
	}
	t.Logf("systemd-analyze security: exposure %s", m[1])
}

// unitCaps turns the unit's AmbientCapabilities into setpriv's "+bpf,…"
// and checks the bounding set holds the same and nothing else.
func unitCaps(t *testing.T, u map[string][]string) string {
	t.Helper()
	ambient := strings.Fields(strings.Join(u["AmbientCapabilities"], " "))
	bounding := strings.Fields(strings.Join(u["CapabilityBoundingSet"], " "))
	slices.Sort(ambient)
	slices.Sort(bounding)
	if len(ambient) == 0 || !slices.Equal(ambient, bounding) {
		t.Fatalf("AmbientCapabilities %v and CapabilityBoundingSet %v differ", ambient, bounding)
	}
	var caps []string
	for _, c := range ambient {
		caps = append(caps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	return strings.Join(caps, ",")
}

// capNumbers maps the capabilities the unit may name to their bits
// (linux/capability.h), to read /proc/PID/status.
var capNumbers = map[string]uint{
	"CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_SYS_ADMIN": 21,
	"CAP_SYS_RESOURCE": 24, "CAP_PERFMON": 38, "CAP_BPF": 39,
}

// procCaps reads a capability set ("CapEff") of pid.
func procCaps(t *testing.T, pid int, set string) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, set+":"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", set, pid)
	return 0
}

// unitLimit is the unit's Limit* value, capped at the hard limit this test
// process may grant (a sandbox without CAP_SYS_RESOURCE cannot raise it).
func unitLimit(t *testing.T, u map[string][]string, key string, resource int) string {
	t.Helper()
	v := u[key]
	if len(v) != 1 {
		t.Fatalf("%s set %d times", key, len(v))
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(resource, &rl); err != nil {
		t.Fatal(err)
	}
	want := uint64(unix.RLIM_INFINITY)
	if v[0] != "infinity" {
		n, err := strconv.ParseUint(v[0], 10, 64)
		if err != nil {
			t.Fatalf("%s=%s: %v", key, v[0], err)
		}
		want = n
	}
	if want > rl.Max {
		t.Logf("%s=%s capped at this process's hard limit %d", key, v[0], rl.Max)
		want = rl.Max
	}
	if want == uint64(unix.RLIM_INFINITY) {
		return "unlimited"
	}
	return strconv.FormatUint(want, 10)
}

// TestServesUnprivilegedWithUnitCapabilities runs the server the way the
// unit does: an unprivileged user, no_new_privs, and only the unit's
// capabilities, ambient and bounding, with its file and memlock limits. The
// shipped configuration must load, the process must hold exactly those
// capabilities (ambient capabilities
// survive no_new_privs), run on io_uring, serve a player, and load the eBPF
// probes wherever root can.
func TestServesUnprivilegedWithUnitCapabilities(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start the server as another user with capabilities")
	}
	for _, tool := range []string{"setpriv", "prlimit"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (util-linux): %v", tool, err)
		}
	}
	u := readUnit(t)
	if u["NoNewPrivileges"][0] != "yes" {
		t.Fatalf("NoNewPrivileges=%v: this test runs the server as the unit does, with it", u["NoNewPrivileges"])
	}
	caps := unitCaps(t, u)
	bin := serverBinary(t)
	wrapper := filepath.Join(filepath.Dir(bin), "bbllive-as-unit")
	script := fmt.Sprintf("#!/bin/sh\nexec prlimit --nofile=%s --memlock=%s -- %s \"$@\"\n",
		unitLimit(t, u, "LimitNOFILE", unix.RLIMIT_NOFILE), unitLimit(t, u, "LimitMEMLOCK", unix.RLIMIT_MEMLOCK),
		strings.Join(setprivArgs(caps, bin), " "))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// The shipped configuration is read as the unit reads it; the
	// command line's loopback ports (startChild) and text logs win.
	// It is copied beside the binary, where the unprivileged user can read.
	yml, err := os.ReadFile(unitConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(filepath.Dir(bin), "bbllive.yaml")
	if err := os.WriteFile(cfg, yml, 0o644); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, wrapper, -1, "-config", cfg, "-log-format", "text", "-io", "uring")
	pid := c.cmd.Process.Pid

	var want uint64
	for _, name := range strings.Fields(strings.Join(u["AmbientCapabilities"], " ")) {
		bit, ok := capNumbers[name]
		if !ok {
			t.Fatalf("capability %s of the unit is not known to this test", name)
		}
		want |= 1 << bit
	}
	for _, set := range []string{"CapEff", "CapAmb", "CapBnd"} {
		if got := procCaps(t, pid, set); got != want {
			t.Errorf("%s = %#x, want exactly the unit's %#x", set, got, want)
		}
	}
	if !strings.Contains(c.logs.String(), "transport=uring") {
		t.Errorf("not on io_uring with the unit's limits: %s", c.logs.String())
	}
	url := "rtmp://" + c.addr + "/live/unit"
	startMetricsPub(t, url, 500_000)
	p := startCountingPlayer(t, url)
	waitFor(t, 5*time.Second, "media to a player of the unprivileged server", func() bool { return p.n.Load() > 10_000 })

	bpfOn := mustSeries(t, scrape(t, c.http), "bbllive_bpf_enabled")
	root := startChild(t, bin, -1)
	rootOn := mustSeries(t, scrape(t, root.http), "bbllive_bpf_enabled")
	switch {
	case rootOn == 0:
		t.Skipf("the socket probes do not load here even as root, so this server's eBPF figures are unchecked with the unit's capabilities (TestBPFTracingLoadsWithUnitCapabilities loads a tracing program with them): %s", bpfLine(root.logs.String()))
	case bpfOn != 1:
		t.Errorf("eBPF loads as root but not with the unit's capabilities %s: %s", caps, bpfLine(c.logs.String()))
	}
}

func bpfLine(logs string) string {
	for l := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(l, "eBPF") {
			return l
		}
	}
	return "(no eBPF line)"
}

// bpfProbeEnv turns this test binary, started by the test below, into a
// probe that loads and attaches an eBPF tracing program and says whether
// the kernel let it.
const bpfProbeEnv = "BBLLIVE_UNIT_BPF_PROBE"

// setprivArgs runs a command as uid 65534 with no_new_privs and exactly
// caps ("+bpf,+perfmon") as its ambient and bounding sets, as the unit does.
func setprivArgs(caps string, cmd ...string) []string {
	return append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs",
		"--inh-caps=-all," + caps, "--ambient-caps=-all," + caps, "--bounding-set=-all," + caps}, cmd...)
}

// TestBPFTracingLoadsWithUnitCapabilities loads the syscall counter (a
// raw-tracepoint program, the same kind of tracing program as the socket
// probes) as an unprivileged user holding only the unit's capabilities:
// the kernel must accept it. Without CAP_PERFMON it must refuse, which
// shows the check can fail and why the unit grants it.
func TestBPFTracingLoadsWithUnitCapabilities(t *testing.T) {
	if os.Getenv(bpfProbeEnv) == "1" {
		c, err := bpf.CountSyscalls(0)
		if err != nil {
			fmt.Println("refused:", err)
		} else {
			fmt.Println("loaded")
			c.Close()
		}
		os.Exit(0)
	}
	needBPF(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux): ", err)
	}
	caps := unitCaps(t, readUnit(t))
	// go test's binary sits in a directory only root may enter.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(dir, "probe.test")
	if err := os.WriteFile(probe, self, 0o755); err != nil {
		t.Fatal(err)
	}
	runProbe := func(caps string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args := setprivArgs(caps, probe, "-test.run=^TestBPFTracingLoadsWithUnitCapabilities$")
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), bpfProbeEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("probe with %s: %v: %s", caps, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out := runProbe(caps); out != "loaded" {
		t.Errorf("with the unit's capabilities %s: %s", caps, out)
	}
	if out := runProbe("+bpf"); !strings.HasPrefix(out, "refused:") {
		t.Errorf("with CAP_BPF alone the kernel should refuse a tracing program: %s", out)
	}
}
