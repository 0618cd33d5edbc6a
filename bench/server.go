package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ServerProcess is a `bbllive serve` started as a separate process, so
// that its CPU, memory and system calls are its own.
type ServerProcess struct {
	cmd  *exec.Cmd
	Addr string // the RTMP address it listens on, 127.0.0.1:port
	PID  int
	done chan struct{}
	err  error
	mu   sync.Mutex
	tail []string // last lines of its log, for errors
}

// addrPattern finds the listening address in the server's first log line,
// in text (rtmp=127.0.0.1:1234) or JSON ("rtmp":"127.0.0.1:1234") form.
var addrPattern = regexp.MustCompile(`"?rtmp"?[=:]"?(127\.0\.0\.1:[0-9]+)`)

const logTail = 40

// StartServer runs bin serve on a free loopback port with flags appended
// (a later flag wins, so flags may not move it off 127.0.0.1: -listen is
// refused) and waits until it listens.
func StartServer(ctx context.Context, bin string, flags []string) (*ServerProcess, error) {
	for _, f := range flags {
		if f == "-listen" || f == "--listen" || strings.HasPrefix(strings.TrimLeft(f, "-"), "listen=") {
			return nil, errors.New("bench: a configuration may not set -listen: the harness only talks to 127.0.0.1 on a free port")
		}
	}
	args := append([]string{"serve", "-listen", "127.0.0.1:0", "-stats-interval", "0"}, flags...)
	cmd := exec.Command(bin, args...)
	// If the harness dies, the server must not live on holding its port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting %s: %w", bin, err)
	}
	s := &ServerProcess{cmd: cmd, PID: cmd.Process.Pid, done: make(chan struct{})}
	addrc := make(chan string, 1)
	go s.readLog(stderr, addrc)
	go func() { s.err = cmd.Wait(); close(s.done) }()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case s.Addr = <-addrc:
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("bench: server exited (%v) before listening:\n%s", s.err, s.Log())
	case <-timer.C:
	case <-ctx.Done():
	}
	s.Stop()
	return nil, fmt.Errorf("bench: server did not report its address within 10 s:\n%s", s.Log())
}

func (s *ServerProcess) readLog(r io.Reader, addrc chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		s.tail = append(s.tail, line)
		if len(s.tail) > logTail {
			s.tail = s.tail[len(s.tail)-logTail:]
		}
		s.mu.Unlock()
		if !found {
			if m := addrPattern.FindStringSubmatch(line); m != nil {
				found = true
				addrc <- m[1]
			}
		}
	}
}

// Log returns the last lines the server logged.
func (s *ServerProcess) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// Exited reports whether the process has ended.
func (s *ServerProcess) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, and SIGKILL if the server is still there after 5 s.
func (s *ServerProcess) Stop() error {
	if s.Exited() {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(5 * time.Second):
	}
	s.cmd.Process.Signal(os.Kill)
	<-s.done
	return fmt.Errorf("bench: server ignored SIGTERM for 5 s and was killed")
}
