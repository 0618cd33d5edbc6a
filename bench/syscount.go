package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bbllive/bbllive/bpf"
)

// SyscallFigures are a process's system calls over a window.
type SyscallFigures struct {
	// Method says how they were counted: "bpf" (the bpf package's
	// raw_syscalls:sys_enter counter), "perf" (perf stat on the same
	// tracepoint) or "none: <why>".
	Method       string `json:"method"`
	Counted      bool   `json:"counted"`
	Total        uint64 `json:"total"`
	IOUringEnter uint64 `json:"io_uring_enter"`
	Writev       uint64 `json:"writev"`
	Write        uint64 `json:"write"`
	Sendmsg      uint64 `json:"sendmsg"`
	// ByNumber holds every non-zero count by syscall number (bpf only).
	ByNumber map[int]uint64 `json:"by_number,omitempty"`
}

// Syscall numbers broken out in SyscallFigures (x86-64 and arm64 differ,
// so they come from x/sys for the build's architecture).
var (
	sysIOUringEnter = unix.SYS_IO_URING_ENTER
	sysWritev       = unix.SYS_WRITEV
	sysWrite        = unix.SYS_WRITE
	sysSendmsg      = unix.SYS_SENDMSG
)

// syscallCounter counts one process's system calls from start to stop.
type syscallCounter interface {
	stop() (SyscallFigures, error)
}

// CountMethod chooses how system calls are counted: "auto" tries bpf, then
// perf; "bpf", "perf" or "none" force one.
type CountMethod string

// startSyscallCount starts counting pid's system calls with the first
// method that works. It never fails: when nothing can count, the figures
// say so in Method.
func startSyscallCount(pid int, method CountMethod) (syscallCounter, string) {
	var why []string
	if method == "auto" || method == "bpf" {
		c, err := bpf.CountSyscalls(pid)
		if err == nil {
			return bpfCounter{c}, ""
		}
		why = append(why, "bpf: "+err.Error())
	}
	if method == "auto" || method == "perf" {
		c, err := startPerf(pid)
		if err == nil {
			return c, strings.Join(why, "; ")
		}
		why = append(why, "perf: "+err.Error())
	}
	if method == "none" {
		why = append(why, "disabled")
	}
	return noCounter{strings.Join(why, "; ")}, ""
}

type bpfCounter struct{ c *bpf.SyscallCounter }

func (b bpfCounter) stop() (SyscallFigures, error) {
	defer b.c.Close()
	counts, err := b.c.Counts()
	if err != nil {
		return SyscallFigures{Method: "none: " + err.Error()}, err
	}
	f := SyscallFigures{Method: "bpf", Counted: true, ByNumber: counts}
	for _, n := range counts {
		f.Total += n
	}
	f.IOUringEnter, f.Writev, f.Write, f.Sendmsg = counts[sysIOUringEnter], counts[sysWritev], counts[sysWrite], counts[sysSendmsg]
	return f, nil
}

type noCounter struct{ why string }

func (n noCounter) stop() (SyscallFigures, error) {
	return SyscallFigures{Method: "none: " + n.why}, nil
}

// perfEvents are counted by perf stat; the first is the total.
var perfEvents = []string{
	"raw_syscalls:sys_enter",
	"syscalls:sys_enter_io_uring_enter",
	"syscalls:sys_enter_writev",
	"syscalls:sys_enter_write",
	"syscalls:sys_enter_sendmsg",
}

type perfCounter struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func startPerf(pid int) (*perfCounter, error) {
	path, err := exec.LookPath("perf")
	if err != nil {
		return nil, err
	}
	args := []string{"stat", "-x", ",", "-p", strconv.Itoa(pid)}
	for _, e := range perfEvents {
		args = append(args, "-e", e)
	}
	cmd := exec.Command(path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// perf attaches after it starts; give it a moment, and notice an
	// immediate failure (unknown event, no permission).
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return nil, fmt.Errorf("perf stat exited: %v: %s", err, strings.TrimSpace(stderr.String()))
	case <-time.After(300 * time.Millisecond):
	}
	return &perfCounter{cmd: cmd, stderr: &stderr, done: done}, nil
}

func (p *perfCounter) stop() (SyscallFigures, error) {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	f, err := parsePerfCSV(p.stderr.String())
	if err != nil {
		return SyscallFigures{Method: "none: " + err.Error()}, err
	}
	return f, nil
}

// parsePerfCSV reads perf stat -x, output: value,unit,event,…
func parsePerfCSV(out string) (SyscallFigures, error) {
	f := SyscallFigures{Method: "perf"}
	seen := false
	for line := range strings.Lines(out) {
		fields := strings.Split(strings.TrimSpace(line), ",")
		if len(fields) < 3 {
			continue
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			if strings.HasPrefix(fields[0], "<not") {
				n = 0 // <not counted>: the process made no such call
			} else {
				continue
			}
		}
		switch fields[2] {
		case perfEvents[0]:
			f.Total, seen = n, true
		case perfEvents[1]:
			f.IOUringEnter = n
		case perfEvents[2]:
			f.Writev = n
		case perfEvents[3]:
			f.Write = n
		case perfEvents[4]:
			f.Sendmsg = n
		}
	}
	if !seen {
		return f, errors.New("perf stat printed no raw_syscalls:sys_enter count")
	}
	f.Counted = true
	return f, nil
}
