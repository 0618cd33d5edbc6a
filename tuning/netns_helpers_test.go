package tuning

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Fixtures of the real tests: root, iproute2, a fresh network namespace
// with a multiqueue veth, and processes run inside it with ip netns exec.

// netnsHelperEnv makes the test binary, started by "ip netns exec" inside a
// namespace, act as "bbllive tune" there instead of running tests: the
// namespace is the process's, with the /sys that ip netns exec mounts for
// it, exactly as a user would run the command.
const netnsHelperEnv = "BBLLIVE_TUNING_NETNS_HELPER"

// readHelperEnv makes the test binary print, as a JSON object, the bytes of
// each file named in its arguments: started by "ip netns exec", it reads
// /proc/sys and /sys as the namespace sees them, independently of the code
// under test.
const readHelperEnv = "BBLLIVE_TUNING_READ_HELPER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(netnsHelperEnv); spec != "" {
		os.Exit(netnsHelper(spec))
	}
	if os.Getenv(readHelperEnv) != "" {
		os.Exit(readFilesHelper(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// readFilesHelper prints {"path": "bytes", …}; a file that cannot be read
// fails it, so a missing queue file is not mistaken for an empty value.
func readFilesHelper(paths []string) int {
	vals := make(map[string]string, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		vals[p] = string(b)
	}
	if err := json.NewEncoder(os.Stdout).Encode(vals); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// needRootAndIP skips, naming what is missing, where the real tests cannot run.
func needRootAndIP(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root to create a network namespace and write sysfs (euid %d)", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2): ", err)
	}
}

func run(t *testing.T, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// netnsWithVeth creates a network namespace under a name unique to this
// run and a veth pair with 4 rx and 4 tx queues per end, moves one end into
// the namespace as "vb0" (as a container runtime hands a container its
// interface), and deletes both (the pair dies with either end) when the
// test ends, failed or not.
func netnsWithVeth(t *testing.T) (ns, dev string) {
	t.Helper()
	id := rand.IntN(1e9)
	ns = fmt.Sprintf("bbltns%d-%d", os.Getpid(), id)
	// Interface names are at most 15 bytes.
	host, moved := fmt.Sprintf("bblh%d", id), fmt.Sprintf("bblm%d", id)
	if err := run(t, "ip", "netns", "add", ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := run(t, "ip", "netns", "del", ns); err != nil {
			t.Error(err)
		}
	})
	if err := run(t, "ip", "link", "add", host, "numtxqueues", "4", "numrxqueues", "4", "type", "veth",
		"peer", "name", moved, "numtxqueues", "4", "numrxqueues", "4"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Gone already once the namespace went; here for a failed move.
		_ = run(t, "ip", "link", "del", host)
	})
	dev = "vb0"
	if err := run(t, "ip", "link", "set", moved, "netns", ns); err != nil {
		t.Fatal(err)
	}
	if err := run(t, "ip", "-n", ns, "link", "set", moved, "name", dev); err != nil {
		t.Fatal(err)
	}
	return ns, dev
}

// readInNetNS returns the bytes of each path as ns sees it.
func readInNetNS(t *testing.T, ns string, paths []string) map[string]string {
	t.Helper()
	r := execInNetNS(t, ns, []string{readHelperEnv + "=1"}, append([]string{os.Args[0]}, paths...)...)
	if r.code != 0 {
		t.Fatalf("reading %d file(s) in %s: exit %d: %s", len(paths), ns, r.code, r.stderr)
	}
	vals := map[string]string{}
	if err := json.Unmarshal([]byte(r.stdout), &vals); err != nil {
		t.Fatalf("reading in %s: %v: %s", ns, err, r.stdout)
	}
	return vals
}

// bblliveBinary builds cmd/bbllive into a directory the test owns, so the
// command is tested as users run it.
func bblliveBinary(t *testing.T) string {
	t.Helper()
	// go test puts its own GOROOT/bin first in PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go tool in PATH to build bbllive: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "bbllive")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, "github.com/bbllive/bbllive/cmd/bbllive").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/bbllive: %v: %s", err, out)
	}
	return bin
}

// cliResult is one run of a command.
type cliResult struct {
	stdout, stderr string
	code           int
}

// execInNetNS runs "ip netns exec ns args…" with env added and returns its
// output and exit status (ip netns exec passes on the command's); a run
// that cannot start or outlives 30 s fails the test.
func execInNetNS(t *testing.T, ns string, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s in %s: %v (stderr %s)", strings.Join(args, " "), ns, ctx.Err(), res.stderr)
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s in %s: %v", strings.Join(args, " "), ns, err)
	}
	return res
}
