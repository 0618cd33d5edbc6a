package browser

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Players are the npm packages of the web players people embed, pinned so
// that a test run is repeatable, with the file of each that a page loads.
var Players = map[string]Package{
	"hls.js":    {Version: "1.7.4", Script: "dist/hls.min.js"},
	"mpegts.js": {Version: "1.8.2", Script: "dist/mpegts.js"},
}

// Package is one pinned npm package and the script a page includes.
type Package struct {
	Version string
	Script  string
}

// ModulesDir is where the players are installed: .cache/npm below the
// module root, which .gitignore keeps out of the repository.
func ModulesDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".cache", "npm"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("browser: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Script returns the path of the named player's script, installing the
// pinned package with npm first when it is not there yet. Test binaries of
// several packages may ask at once: a file lock makes one install.
func Script(name string) (string, error) {
	pkg, ok := Players[name]
	if !ok {
		return "", fmt.Errorf("browser: unknown player %q", name)
	}
	root, err := ModulesDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, "node_modules", name, pkg.Script)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(filepath.Join(root, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(path); err == nil {
		return path, nil // installed while we waited
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", fmt.Errorf("browser: %s is not installed and there is no npm to install it (apt-get install npm)", name)
	}
	cmd := exec.Command("npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", root, name+"@"+pkg.Version)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("browser: npm install %s@%s: %w\n%s", name, pkg.Version, err, out)
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("browser: npm installed %s@%s but %s is missing", name, pkg.Version, pkg.Script)
	}
	return path, nil
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}
