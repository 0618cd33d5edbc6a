package tuning

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// multiqueueVeth creates a veth pair with 4 rx and 4 tx queues whose host end
// lives in this namespace (so /sys/class/net shows it) under a name unique to
// this process, and whose peer lives in a namespace the test owns. Deleting
// that namespace deletes both ends, so nothing leaks even if the test fails.
func multiqueueVeth(t *testing.T) string {
	t.Helper()
	id := os.Getpid() % 10000000
	dev, peer, ns := fmt.Sprintf("bbltune%d", id), fmt.Sprintf("bblpeer%d", id), fmt.Sprintf("bbltune%d", id)
	if err := run(t, "ip", "netns", "add", ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = run(t, "ip", "link", "del", dev)
		if err := run(t, "ip", "netns", "del", ns); err != nil {
			t.Error(err)
		}
	})
	if err := run(t, "ip", "link", "add", dev, "numtxqueues", "4", "numrxqueues", "4", "type", "veth",
		"peer", "name", peer, "numtxqueues", "4", "numrxqueues", "4", "netns", ns); err != nil {
		t.Fatal(err)
	}
	return dev
}

// TestRealVethApplyRevert applies RPS, RFS and XPS to a real multiqueue veth,
// reads the values back from sysfs, reverts, and checks every file (and the
// global rps_sock_flow_entries) holds its original bytes again.
func TestRealVethApplyRevert(t *testing.T) {
	needRootAndIP(t)
	dev := multiqueueVeth(t)
	opts := Options{Devices: []string{dev}, Kinds: []Kind{KindRPS, KindRFS, KindXPS}}
	p, err := NewPlan(opts)
	if err != nil {
		t.Fatal(err)
	}
	sys := tree{}
	before := map[string]string{}
	for _, c := range p.Changes {
		if before[c.Path], err = sys.read(c.Path); err != nil {
			t.Fatal(err)
		}
	}
	kinds := map[Kind]int{}
	for _, c := range p.Pending() {
		kinds[c.Kind]++
	}
	if kinds[KindRPS] != 4 || kinds[KindRFS] < 4 {
		t.Fatalf("plan for %s: %v pending, want 4 rps and at least 4 rfs:\n%v", dev, kinds, p.Changes)
	}
	statePath := filepath.Join(t.TempDir(), "tune-state.json")
	// Whatever happens below, the global sysctl goes back.
	t.Cleanup(func() {
		if _, err := os.Stat(statePath); err == nil {
			if _, err := Revert("/", statePath); err != nil {
				t.Errorf("cleanup revert: %v", err)
			}
		}
	})
	if _, err := Apply(p, statePath); err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Pending() {
		checkReadBack(t, sys, c)
	}
	if _, err := Revert("/", statePath); err != nil {
		t.Fatal(err)
	}
	for path, want := range before {
		if got, err := sys.read(path); err != nil || got != want {
			t.Errorf("after revert %s = %q, %v; want %q", path, got, err, want)
		}
	}
}

func checkReadBack(t *testing.T, sys tree, c Change) {
	t.Helper()
	got, err := sys.readTrim(c.Path)
	if err != nil {
		t.Fatal(err)
	}
	switch c.Kind {
	case KindRPS, KindXPS:
		// The kernel pads masks to nr_cpu_ids; compare the sets.
		g, err1 := ParseCPUMask(got)
		w, err2 := ParseCPUMask(c.New)
		if err1 != nil || err2 != nil || !g.Equal(w) {
			t.Errorf("%s reads %q after writing %q", c.Path, got, c.New)
		}
	default:
		if got != c.New {
			t.Errorf("%s reads %q after writing %q", c.Path, got, c.New)
		}
	}
}

// TestRealKernelErrors checks the errors a real kernel gives: a value it
// rejects and a read-only sysfs, each named with the path and errno.
func TestRealKernelErrors(t *testing.T) {
	needRootAndIP(t)
	dev := multiqueueVeth(t)
	rps := queuePath(dev, "rx", 0, "rps_cpus")
	err := tree{}.write(rps, "not-a-mask\n")
	if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), rps) || !strings.Contains(err.Error(), "rejected") {
		t.Errorf("invalid mask: err = %v", err)
	}

	root := t.TempDir()
	mnt := filepath.Join(root, "sys")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("sysfs", mnt, "sysfs", syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("needs a read-only sysfs mount (mount: %v)", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	p, err := NewPlan(Options{Root: root, Devices: []string{dev}, Kinds: []Kind{KindRPS}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Pending()) == 0 {
		t.Fatalf("nothing planned on the read-only sysfs: %v", p.Changes)
	}
	_, err = Apply(p, filepath.Join(t.TempDir(), "state.json"))
	if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), mnt) || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("read-only sysfs: err = %v", err)
	}
}

// TestRealDiscover reads this machine without changing it.
func TestRealDiscover(t *testing.T) {
	if _, err := os.Stat("/sys/class/net"); err != nil {
		t.Skip("needs /sys/class/net: ", err)
	}
	p, err := NewPlan(Options{})
	if err != nil {
		if strings.Contains(err.Error(), "no network device with hardware") {
			t.Skip("no hardware NIC here: ", err)
		}
		t.Fatal(err)
	}
	if p.Online.Len() == 0 || len(p.Devices) == 0 {
		t.Errorf("discovered %d CPUs and devices %v", p.Online.Len(), p.Devices)
	}
	var b strings.Builder
	if err := p.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("plan for this machine:\n%s", b.String())
}
