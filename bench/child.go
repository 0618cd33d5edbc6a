package bench

import (
	"bufio"
	"context"
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

// child is a bbllive subcommand run as a separate process, so that its CPU,
// memory and system calls are its own. The last lines of its log (stderr)
// are kept for error messages.
type child struct {
	what string // "server", "publisher": for messages
	cmd  *exec.Cmd
	PID  int
	done chan struct{}
	err  error
	mu   sync.Mutex
	tail []string
}

const (
	logTail      = 40
	childTimeout = 10 * time.Second // to report readiness
)

// startChild runs bin with args and waits until a log line matches ready;
// it returns the line's first submatch (or the whole match).
func startChild(ctx context.Context, what, bin string, args []string, ready *regexp.Regexp) (*child, string, error) {
	cmd := exec.Command(bin, args...)
	// If the harness dies, the child must not live on holding its port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("bench: starting %s: %w", bin, err)
	}
	c := &child{what: what, cmd: cmd, PID: cmd.Process.Pid, done: make(chan struct{})}
	readyc := make(chan string, 1)
	// Wait only after the log is read to its end: Wait closes the pipe, and
	// calling it as soon as the process exits loses the last lines — the
	// ones that say why it exited.
	go func() {
		c.readLog(stderr, ready, readyc)
		c.err = cmd.Wait()
		close(c.done)
	}()
	timer := time.NewTimer(childTimeout)
	defer timer.Stop()
	select {
	case m := <-readyc:
		return c, m, nil
	case <-c.done:
		return nil, "", fmt.Errorf("bench: %s exited (%v) before it was ready:\n%s", what, c.err, c.Log())
	case <-timer.C:
	case <-ctx.Done():
	}
	c.Stop()
	return nil, "", fmt.Errorf("bench: %s not ready within %v:\n%s", what, childTimeout, c.Log())
}

func (c *child) readLog(r io.Reader, ready *regexp.Regexp, readyc chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Text()
		c.mu.Lock()
		c.tail = append(c.tail, line)
		if len(c.tail) > logTail {
			c.tail = c.tail[len(c.tail)-logTail:]
		}
		c.mu.Unlock()
		if found {
			continue
		}
		if m := ready.FindStringSubmatch(line); m != nil {
			found = true
			readyc <- m[len(m)-1]
		}
	}
}

// Log returns the last lines the process logged.
func (c *child) Log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, "\n")
}

// Exited reports whether the process has ended.
func (c *child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, and SIGKILL if the process is still there after 5 s.
func (c *child) Stop() error {
	if c.Exited() {
		return nil
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(5 * time.Second):
	}
	c.cmd.Process.Signal(os.Kill)
	<-c.done
	return fmt.Errorf("bench: %s ignored SIGTERM for 5 s and was killed", c.what)
}
