package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// serverBinary builds ./cmd/bbllive once per test run, or returns the
// binary named by $BBLLIVE_BENCH_SERVER (to test another build).
func serverBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("BBLLIVE_BENCH_SERVER"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "bench-test-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "bbllive")
		out, err := exec.Command("go", "build", "-o", buildBin, "github.com/bbllive/bbllive/cmd/bbllive").CombinedOutput()
		if err != nil {
			buildErr = err
			buildBin = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the server: %v\n%s", buildErr, buildBin)
	}
	return buildBin
}

// startTestServer runs the server binary with flags until the test ends.
func startTestServer(t *testing.T, flags ...string) *ServerProcess {
	t.Helper()
	srv, err := StartServer(context.Background(), serverBinary(t), ServerConfig{Name: "test", Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}

// publishUntil publishes a synthetic stream to url until the returned stop
// is called or the test ends, and waits until the server accepted it.
func publishUntil(t *testing.T, url string, cfg synth.Config) (*PublishStats, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stats := new(PublishStats)
	wait, err := PublishMany(ctx, url, 1, func(int) (MediaSource, error) {
		s, err := synth.New(cfg)
		if err != nil {
			return nil, err
		}
		return SynthSource(s), nil
	}, stats)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := wait(); err != nil {
				t.Errorf("publisher %s: %v", url, err)
			}
		})
	}
	t.Cleanup(stop)
	return stats, stop
}

// waitRamped waits for every player's setup, bounded by d.
func waitRamped(t *testing.T, g *LoadGen, d time.Duration) {
	t.Helper()
	select {
	case <-g.Ramped():
	case <-time.After(d):
		t.Fatalf("players not set up within %v: %+v", d, g.Progress())
	}
}
