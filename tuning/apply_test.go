package tuning

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestApplyRevertRestoresEveryByte(t *testing.T) {
	for _, tc := range planCases {
		t.Run(tc.name, func(t *testing.T) {
			root := buildTree(t, tc.sh)
			before := snapshot(t, root)
			p := planFor(t, root, tc.devices, tc.reserve)
			statePath := filepath.Join(t.TempDir(), "state", "tune-state.json")
			st, err := Apply(p, statePath)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Entries) != len(p.Pending()) || len(st.Entries) == 0 {
				t.Fatalf("applied %d entries, plan had %d pending", len(st.Entries), len(p.Pending()))
			}
			tr := tree{root: root}
			for _, c := range p.Pending() {
				if got, _ := tr.read(c.Path); got != c.New+"\n" {
					t.Errorf("after apply %s = %q, want %q", c.Path, got, c.New+"\n")
				}
			}
			if _, err := os.Stat(statePath); err != nil {
				t.Fatalf("state file not saved: %v", err)
			}
			if _, err := Apply(p, statePath); err == nil || !strings.Contains(err.Error(), "exists") {
				t.Errorf("second apply over a state file: err = %v", err)
			}
			if _, err := Revert(root, statePath); err != nil {
				t.Fatal(err)
			}
			if after := snapshot(t, root); !maps.Equal(before, after) {
				for p, v := range before {
					if after[p] != v {
						t.Errorf("%s: %q after revert, was %q", p, after[p], v)
					}
				}
			}
			if _, err := os.Stat(statePath); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state file left after a complete revert: %v", err)
			}
			if _, err := Revert(root, statePath); err == nil || !strings.Contains(err.Error(), "no state file") {
				t.Errorf("revert without state: err = %v", err)
			}
		})
	}
}

// TestApplyFailsHalfWay makes the last write hit a file the kernel refuses
// (a read-only sysfs attribute behind a link) and checks that the writes
// before it are undone, the state file is gone and the error names the path
// and the kernel's errno.
func TestApplyFailsHalfWay(t *testing.T) {
	const readOnlyAttr = "/sys/devices/system/cpu/online"
	if _, err := os.Stat(readOnlyAttr); err != nil {
		t.Skipf("needs the real %s as a file the kernel refuses to write: %v", readOnlyAttr, err)
	}
	root := buildTree(t, shape{online: "0-1", nics: []fakeNIC{virtioNIC()}})
	p := planFor(t, root, nil, "")
	pending := p.Pending()
	last := pending[len(pending)-1].Path
	full := filepath.Join(root, last)
	if err := os.Remove(full); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(readOnlyAttr, full); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	statePath := filepath.Join(t.TempDir(), "tune-state.json")
	_, err := Apply(p, statePath)
	var aerr *ApplyError
	if !errors.As(err, &aerr) {
		t.Fatalf("err = %v, want an *ApplyError", err)
	}
	if aerr.Written != len(pending)-1 || aerr.RevertErr != nil {
		t.Errorf("written %d (want %d), revert error %v", aerr.Written, len(pending)-1, aerr.RevertErr)
	}
	if !errors.Is(err, syscall.EACCES) || !strings.Contains(err.Error(), full) || !strings.Contains(err.Error(), "were reverted") {
		t.Errorf("error does not name the path, the errno and the undo: %v", err)
	}
	if after := snapshot(t, root); !maps.Equal(before, after) {
		t.Error("files differ after a failed apply")
	}
	if _, err := os.Stat(statePath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file kept after a failed apply that was undone: %v", err)
	}
}

func TestRootRequired(t *testing.T) {
	saved := geteuid
	geteuid = func() int { return 1000 }
	t.Cleanup(func() { geteuid = saved })
	p := &Plan{Root: "/"}
	if _, err := Apply(p, filepath.Join(t.TempDir(), "s.json")); !errors.Is(err, ErrNotRoot) || !strings.Contains(err.Error(), "euid 1000") {
		t.Errorf("apply as euid 1000: err = %v", err)
	}
	if _, err := Revert("/", filepath.Join(t.TempDir(), "s.json")); !errors.Is(err, ErrNotRoot) {
		t.Errorf("revert as euid 1000: err = %v", err)
	}
}

func TestLoadStateRejects(t *testing.T) {
	cases := []struct {
		name, content, wantErr string
	}{
		{"garbage", "{not json", "state file"},
		{"version", `{"version": 9, "root": "/"}`, "version 9"},
		{"path escape", `{"version": 1, "root": "/", "entries": [{"path": "/sys/class/net/../../../etc/passwd", "old": "x"}]}`, "not a tunable"},
		{"other file", `{"version": 1, "root": "/", "entries": [{"path": "/etc/shadow", "old": "x"}]}`, "not a tunable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "s.json")
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadState(p); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestRevertRootMismatch(t *testing.T) {
	root := buildTree(t, shape{online: "0-1", nics: []fakeNIC{virtioNIC()}})
	statePath := filepath.Join(t.TempDir(), "s.json")
	if _, err := Apply(planFor(t, root, nil, ""), statePath); err != nil {
		t.Fatal(err)
	}
	if _, err := Revert(t.TempDir(), statePath); err == nil || !strings.Contains(err.Error(), "written for root") {
		t.Errorf("revert on another root: err = %v", err)
	}
	if _, err := Revert(root, statePath); err != nil {
		t.Fatal(err)
	}
}

func TestRevertKeepsStateOnFailure(t *testing.T) {
	root := buildTree(t, shape{online: "0-1", nics: []fakeNIC{virtioNIC()}})
	statePath := filepath.Join(t.TempDir(), "s.json")
	st, err := Apply(planFor(t, root, nil, ""), statePath)
	if err != nil {
		t.Fatal(err)
	}
	// The device vanishes between apply and revert.
	if err := os.RemoveAll(filepath.Join(root, "sys/class/net/eth0/queues")); err != nil {
		t.Fatal(err)
	}
	_, err = Revert(root, statePath)
	if err == nil || !strings.Contains(err.Error(), "rps_cpus") || !strings.Contains(err.Error(), "kept") {
		t.Fatalf("err = %v, want the vanished path named and the state kept", err)
	}
	if _, err := os.Stat(statePath); err != nil {
		t.Errorf("state file removed after an incomplete revert: %v", err)
	}
	// The rest was still restored.
	for _, e := range st.Entries {
		if strings.HasPrefix(e.Path, "/proc/sys/") {
			if got, _ := (tree{root: root}).read(e.Path); got != e.Old {
				t.Errorf("%s = %q, want %q", e.Path, got, e.Old)
			}
		}
	}
}

func TestWriteErrorHints(t *testing.T) {
	cases := []struct {
		err  error
		path string
		hint string
	}{
		{syscall.EROFS, "/sys/class/net/eth0/queues/rx-0/rps_cpus", "read-only file system"},
		{syscall.EACCES, "/proc/sys/net/core/somaxconn", "run as root"},
		{syscall.EINVAL, "/proc/sys/net/core/somaxconn", "rejected the value"},
		{syscall.EIO, "/proc/irq/5/smp_affinity_list", "manages this IRQ"},
	}
	for _, tc := range cases {
		e := &WriteError{Path: tc.path, Value: "3\n", Err: tc.err}
		msg := e.Error()
		if !strings.Contains(msg, tc.path) || !strings.Contains(msg, tc.err.Error()) || !strings.Contains(msg, tc.hint) {
			t.Errorf("%v: message %q lacks path, errno or hint %q", tc.err, msg, tc.hint)
		}
		if !errors.Is(e, tc.err) {
			t.Errorf("%v: errors.Is fails", tc.err)
		}
	}
}
