package bpf

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

func TestUnavailableClassification(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		reason string
	}{
		{"not supported", fmt.Errorf("x: %w", ebpf.ErrNotSupported), "lacks a needed eBPF feature"},
		{"permission", fmt.Errorf("x: %w", syscall.EPERM), map[bool]string{true: "kernel refused", false: "not running as root"}[os.Geteuid() == 0]},
		{"missing tracepoint", fmt.Errorf("x: %w", btf.ErrNotFound), "Linux 5.15 or later"},
		{"other", errors.New("boom"), "failed"},
	}
	for _, c := range cases {
		err := unavailable("loading", c.err)
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v does not match ErrUnavailable", c.name, err)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%s: %v does not wrap its cause", c.name, err)
		}
		if !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: %q does not say %q", c.name, err, c.reason)
		}
	}
	if errors.Is(errors.New("bpf: unavailable"), ErrUnavailable) {
		t.Error("an unrelated error matches ErrUnavailable")
	}
}

func TestLoadWithoutBTF(t *testing.T) {
	old := btfPath
	btfPath = filepath.Join(t.TempDir(), "no-vmlinux")
	defer func() { btfPath = old }()
	_, err := Load(Options{})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no BTF") {
		t.Errorf("Load without BTF = %v, want ErrUnavailable naming BTF", err)
	}
}

// TestLoadUnprivileged runs this test binary as user nobody and checks that
// Load there fails cleanly with ErrUnavailable and says why, and that the
// TCP_INFO source counts exactly there.
func TestLoadUnprivileged(t *testing.T) {
	if os.Getenv("BBLLIVE_BPF_UNPRIVILEGED_CHILD") == "1" {
		_, err := Load(Options{})
		fmt.Printf("child: %v\n", err)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "not running as root") {
			os.Exit(3)
		}
		// Where eBPF cannot load, the fallback must: exact figures as nobody.
		testCountsExactBytes(t, testSource{src: newTCPInfo(t)})
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a child process as user nobody")
	}
	// The go test binary sits in a private directory: copy it where
	// nobody can execute it.
	dir, err := os.MkdirTemp("", "bbllive-bpf-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bpf.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^TestLoadUnprivileged$", "-test.v")
	cmd.Env = append(os.Environ(), "BBLLIVE_BPF_UNPRIVILEGED_CHILD=1")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unprivileged Load did not fail cleanly: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestLoadUnprivileged/writev") {
		t.Errorf("the TCP_INFO exactness test did not run as nobody:\n%s", out)
	}
	if !strings.Contains(string(out), "bpf: unavailable: ") {
		t.Errorf("child output lacks the unavailable error:\n%s", out)
	}
	t.Logf("%s", strings.SplitN(string(out), "\n", 3)[1])
}

// TestVerifierLogInError loads a program the verifier must reject and checks
// that the error Load would return carries every line of the verifier's log,
// not only the last one the short form keeps.
func TestVerifierLogInError(t *testing.T) {
	requirePrivilege(t)
	// Several instructions, then a read of a register never written: the
	// log walks each before the rejection.
	insns := asm.Instructions{
		asm.Mov.Imm(asm.R0, 0),
		asm.Mov.Imm(asm.R1, 1),
		asm.Add.Imm(asm.R1, 2),
		asm.Add.Imm(asm.R1, 3),
		asm.Mov.Reg(asm.R0, asm.R5),
		asm.Return(),
	}
	_, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "MIT", Instructions: insns})
	var verr *ebpf.VerifierError
	if !errors.As(err, &verr) {
		t.Fatalf("loading a bad program: %v, want a *ebpf.VerifierError", err)
	}
	if len(verr.Log) < 3 {
		t.Fatalf("verifier log of %d lines, want several: %q", len(verr.Log), verr.Log)
	}
	msg := unavailable("loading socket programs", err).Error()
	for _, line := range verr.Log {
		if !strings.Contains(msg, line) {
			t.Errorf("error lacks verifier log line %q:\n%s", line, msg)
		}
	}
	if !strings.Contains(msg, "R5 !read_ok") || !strings.Contains(msg, "verifier rejected") {
		t.Errorf("error does not name the rejection:\n%s", msg)
	}
	t.Logf("%s", msg)
}

// TestEveryProgramLoads loads each program of both embedded objects on its
// own, so that a rejection names the program and carries its verifier log
// even where another program would have failed first.
func TestEveryProgramLoads(t *testing.T) {
	requirePrivilege(t)
	for obj, load := range map[string]func() (*ebpf.CollectionSpec, error){"sockstats": loadSockstats, "syscalls": loadSyscalls} {
		spec, err := load()
		if err != nil {
			t.Fatalf("%s: %v", obj, err)
		}
		for name := range spec.Programs {
			t.Run(obj+"/"+name, func(t *testing.T) {
				one := spec.Copy()
				for other := range one.Programs {
					if other != name {
						delete(one.Programs, other)
					}
				}
				coll, err := ebpf.NewCollection(one)
				if err != nil {
					t.Fatal(unavailable("loading "+name, err))
				}
				coll.Close()
			})
		}
	}
}
