package bpf

import (
	"errors"
	"os"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// ErrUnavailable matches (with errors.Is) every error that means eBPF cannot
// be used in this process or on this kernel, as opposed to a misuse of the
// API. Callers treat it as "run without kernel figures".
var ErrUnavailable = errors.New("eBPF unavailable")

// UnavailableError says in plain words why eBPF could not be used.
type UnavailableError struct {
	// Reason is a short human explanation, e.g. "kernel has no BTF".
	Reason string
	// Err is the underlying error from the kernel or the loader, if any.
	Err error
	// VerifierLog is the verifier's whole log when it rejected a program
	// (Err's short form keeps only its last lines): what makes the next
	// kernel's change diagnosable from one CI run or one server log line.
	VerifierLog []string
}

// Error implements error. A verifier rejection carries the verifier's
// full log, one line after another.
func (e *UnavailableError) Error() string {
	msg := "bpf: unavailable: " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if len(e.VerifierLog) > 0 {
		msg += "\nverifier log:\n" + strings.Join(e.VerifierLog, "\n")
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// btfPath is where the kernel exposes its own type information; tp_btf
// programs and CO-RE relocations cannot work without it.
var btfPath = "/sys/kernel/btf/vmlinux"

// checkBTF reports the absence of kernel BTF before the loader fails on it
// with a less readable message.
func checkBTF() error {
	if _, err := os.Stat(btfPath); err != nil {
		return &UnavailableError{Reason: "kernel has no BTF (" + btfPath + " missing; needs CONFIG_DEBUG_INFO_BTF)", Err: err}
	}
	return nil
}

// unavailable wraps an error of the loader or the kernel with the most
// likely reason, phrased for an operator reading one log line.
func unavailable(what string, err error) error {
	var verr *ebpf.VerifierError
	switch {
	case errors.As(err, &verr):
		// VerifierError's own message keeps only the last lines; the
		// whole log goes into ours.
		return &UnavailableError{Reason: what + ": the kernel's verifier rejected the program", Err: err,
			VerifierLog: slices.Clone(verr.Log)}
	case errors.Is(err, btf.ErrNotFound):
		return &UnavailableError{Reason: what + ": the kernel lacks a tracepoint or type the programs need (Linux 5.15 or later)", Err: err}
	case errors.Is(err, ebpf.ErrNotSupported):
		return &UnavailableError{Reason: what + ": the kernel lacks a needed eBPF feature", Err: err}
	case errors.Is(err, os.ErrPermission) && os.Geteuid() != 0:
		return &UnavailableError{Reason: what + ": not running as root (needs CAP_BPF and CAP_PERFMON)", Err: err}
	case errors.Is(err, os.ErrPermission):
		return &UnavailableError{Reason: what + ": the kernel refused (lockdown, a security module or a missing capability)", Err: err}
	default:
		return &UnavailableError{Reason: what + " failed", Err: err}
	}
}
