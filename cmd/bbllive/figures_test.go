package main

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/bbllive/bbllive/bpf"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// TestVerifierLogInServerLog makes the kernel's verifier reject a program
// and checks that the server's one log line about it carries every line of
// the verifier's log, and that the server goes on with TCP_INFO figures.
func TestVerifierLogInServerLog(t *testing.T) {
	needBPF(t)
	_, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "MIT", Instructions: asm.Instructions{
		asm.Mov.Imm(asm.R1, 1),
		asm.Add.Imm(asm.R1, 2),
		asm.Mov.Reg(asm.R0, asm.R7), // never written: rejected
		asm.Return(),
	}})
	var verr *ebpf.VerifierError
	if !errors.As(err, &verr) {
		t.Fatalf("loading a bad program: %v, want a *ebpf.VerifierError", err)
	}
	old := loadProbes
	loadProbes = func(bpf.Options) (*bpf.Probes, error) {
		return nil, &bpf.UnavailableError{Reason: "loading socket programs: the kernel's verifier rejected the program", Err: err, VerifierLog: verr.Log}
	}
	t.Cleanup(func() { loadProbes = old })

	logs := &logBuffer{}
	src, probes := openFigures(true, slog.New(slog.NewTextHandler(logs, nil)))
	if probes != nil || bpf.SourceName(src) != bpf.SourceTCPInfo {
		t.Errorf("after a rejection: probes %v, source %s; want none and tcp_info", probes, bpf.SourceName(src))
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "eBPF socket figures off") {
		t.Fatalf("want one log line saying eBPF is off, got %q", lines)
	}
	for _, l := range verr.Log {
		// slog's text handler quotes the value: the log's lines are
		// joined by an escaped newline.
		if q := strconv.Quote(l); !strings.Contains(lines[0], q[1:len(q)-1]) {
			t.Errorf("server log line lacks verifier line %q:\n%s", l, lines[0])
		}
	}
	t.Logf("%s", lines[0])
}
