package tuning

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// DefaultStatePath is where apply records what it replaced.
const DefaultStatePath = "/var/lib/bbllive/tune-state.json"

// stateVersion changes when the state file's meaning does.
const stateVersion = 1

// ErrNotRoot is returned by Apply and Revert on the real root without root.
var ErrNotRoot = errors.New("must run as root: it writes /proc/irq, /sys/class/net/*/queues and /proc/sys")

// geteuid is a variable so tests can play an unprivileged user.
var geteuid = os.Geteuid

// State is what apply replaced, saved so that revert restores exactly it.
type State struct {
	Version int       `json:"version"`
	Root    string    `json:"root"`
	Applied time.Time `json:"applied"`
	Entries []Entry   `json:"entries"`
}

// Entry is one written file: Old holds its bytes before apply, verbatim.
type Entry struct {
	Kind   Kind   `json:"kind"`
	Target string `json:"target"`
	Path   string `json:"path"`
	Old    string `json:"old"`
	New    string `json:"new"`
}

// ApplyError is an apply that failed part way. The changes written before
// the failure have been reverted unless RevertErr says otherwise.
type ApplyError struct {
	Err       error // the write that failed
	Written   int   // changes written before it
	RevertErr error // nil when those were all restored
	StatePath string
}

// Error names the failed write and what became of the earlier ones.
func (e *ApplyError) Error() string {
	if e.RevertErr != nil {
		return fmt.Sprintf("apply failed: %v; undoing the %d change(s) already written also failed: %v; run revert with -state %s",
			e.Err, e.Written, e.RevertErr, e.StatePath)
	}
	return fmt.Sprintf("apply failed: %v; the %d change(s) already written were reverted", e.Err, e.Written)
}

// Unwrap returns the failed write.
func (e *ApplyError) Unwrap() error { return e.Err }

func checkRoot(root string) error {
	if (root == "" || root == "/") && geteuid() != 0 {
		return fmt.Errorf("%w (euid %d)", ErrNotRoot, geteuid())
	}
	return nil
}

// Apply writes the plan's pending changes and records the replaced values in
// statePath. The state file is saved before the first write, so a crash
// mid-way still leaves enough to revert; a failed write undoes the earlier
// ones. Apply refuses to run over an existing state file, because a second
// apply would record tuned values as the "originals".
func Apply(p *Plan, statePath string) (*State, error) {
	if err := checkRoot(p.Root); err != nil {
		return nil, err
	}
	if _, err := os.Stat(statePath); err == nil {
		return nil, fmt.Errorf("state file %s exists: a previous apply was not reverted; run revert first or choose another -state", statePath)
	}
	t := tree{root: p.Root}
	st := &State{Version: stateVersion, Root: p.Root, Applied: time.Now().UTC()}
	for _, c := range p.Pending() {
		old, err := t.read(c.Path)
		if err != nil {
			return nil, fmt.Errorf("read current value: %w", err)
		}
		st.Entries = append(st.Entries, Entry{Kind: c.Kind, Target: c.Target, Path: c.Path, Old: old, New: c.New})
	}
	if len(st.Entries) == 0 {
		return st, nil
	}
	if err := saveState(statePath, st); err != nil {
		return nil, err
	}
	for i, e := range st.Entries {
		if err := t.write(e.Path, e.New+"\n"); err != nil {
			aerr := &ApplyError{Err: err, Written: i, StatePath: statePath}
			if aerr.RevertErr = undo(t, st.Entries[:i]); aerr.RevertErr == nil {
				aerr.RevertErr = removeState(statePath)
			}
			return nil, aerr
		}
	}
	return st, nil
}

// Revert restores what the apply recorded in statePath, newest change first,
// and removes the state file once every value is back. It keeps going past a
// failed write so one vanished device does not strand the rest.
func Revert(root, statePath string) (*State, error) {
	if root == "" {
		root = "/"
	}
	if err := checkRoot(root); err != nil {
		return nil, err
	}
	st, err := LoadState(statePath)
	if err != nil {
		return nil, err
	}
	if filepath.Clean(st.Root) != filepath.Clean(root) {
		return nil, fmt.Errorf("state file %s was written for root %s, not %s", statePath, st.Root, root)
	}
	if err := undo(tree{root: root}, st.Entries); err != nil {
		return st, fmt.Errorf("revert incomplete (state file %s kept): %w", statePath, err)
	}
	return st, removeState(statePath)
}

func undo(t tree, entries []Entry) error {
	var errs []error
	for i := len(entries) - 1; i >= 0; i-- {
		if err := t.write(entries[i].Path, entries[i].Old); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LoadState reads a state file written by Apply.
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no state file %s: nothing applied, or already reverted", path)
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("state file %s: version %d, this bbllive reads %d", path, st.Version, stateVersion)
	}
	for _, e := range st.Entries {
		if err := checkStatePath(e.Path); err != nil {
			return nil, fmt.Errorf("state file %s: %w", path, err)
		}
	}
	return &st, nil
}

// checkStatePath keeps a damaged or hostile state file from steering revert
// to files outside the kernel's tunables.
func checkStatePath(p string) error {
	clean := filepath.Clean(p)
	for _, prefix := range []string{"/proc/irq/", "/proc/sys/", "/sys/class/net/"} {
		if len(clean) > len(prefix) && clean[:len(prefix)] == prefix && clean == p {
			return nil
		}
	}
	return fmt.Errorf("path %q is not a tunable this command writes", clip(p))
}

// saveState writes the state atomically: a torn file would lose originals.
func saveState(path string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tune-state-*")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

func removeState(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state file: %w", err)
	}
	return nil
}
