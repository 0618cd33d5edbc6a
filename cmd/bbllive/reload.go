package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
)

// parseServeArgs reads the settings of `bbllive serve` from its command
// line and the -config file it names; a reload runs it again.
func parseServeArgs(args []string) (*serveConfig, error) {
	c := &serveConfig{args: args}
	fs := serveFlags(c)
	// Left to itself the flag package prints its error and every flag's
	// usage, then runServe the error again; serveArgsFailed prints it once.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, &usageError{fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))}
	}
	var file *configFile
	if c.configFile != "" {
		var err error
		if file, err = applyConfigFile(fs, c.configFile); err != nil {
			return nil, err
		}
	}
	if err := c.validate(); err != nil {
		return nil, file.locate(err)
	}
	c.flagValues = map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { c.flagValues[f.Name] = f.Value.String() })
	return c, nil
}

// reloader applies a new configuration to a running server: on SIGHUP and
// on POST /api/reload.
type reloader struct {
	ctl *control

	mu      sync.Mutex
	current *serveConfig      // the settings the server started with
	values  map[string]string // every flag's value in force
}

func newReloader(ctl *control, c *serveConfig) *reloader {
	r := &reloader{ctl: ctl, current: c, values: map[string]string{}}
	for k, v := range c.flagValues {
		r.values[k] = v
	}
	return r
}

// reload parses the command line and config file again and applies what
// may change live: access control, the API token, the log level, the
// -forward rules (for streams published after the reload). A bad
// file keeps every current setting; what needs a restart is named in the
// log. The returned list names those flags.
func (r *reloader) reload() (restartNeeded []string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := r.ctl.log
	if r.current.args == nil {
		err := errors.New("this server was not started from a command line; nothing to reload")
		log.Warn("reload failed; keeping the current settings", "why", err.Error())
		return nil, err
	}
	// parseServeArgs refuses a bad value of any flag, -log-level's
	// included, before anything is applied or named as needing a restart.
	next, err := parseServeArgs(r.current.args)
	if err == nil {
		err = r.ctl.gate.Reload(next.access.config())
	}
	if err != nil {
		log.Warn("reload failed; keeping the current settings", "why", err.Error())
		return nil, err
	}
	if r.current.levelVar != nil {
		setLogLevel(r.current.levelVar, next.logLevel)
	}
	r.ctl.setAPIToken(next.access.apiToken)
	values := next.flagValues
	if rr := r.current.relay.running; rr != nil && values["forward"] != r.values["forward"] {
		// Streams published from now on follow the new rules; running
		// forwards keep their targets until their stream ends.
		rr.setForward(next.relay.forward.rules, log)
	}
	for name, v := range values {
		if v != r.values[name] && !reloadableFlags[name] {
			restartNeeded = append(restartNeeded, name)
		}
	}
	sort.Strings(restartNeeded)
	// Keep the running values of what was not applied, so the next
	// reload names them again.
	for name := range reloadableFlags {
		r.values[name] = values[name]
	}
	if len(restartNeeded) > 0 {
		log.Warn("reload: these settings need a restart and were not applied", "flags", restartNeeded)
	}
	logAccess(log, "reloaded", &next.access)
	return restartNeeded, nil
}

// watchSIGHUP reloads on every SIGHUP until the returned stop is called.
// Without it SIGHUP would end the server (exit 129), which is what
// systemctl reload and most process managers send to ask for a reload.
func (c *control) watchSIGHUP() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ch:
				c.log.Info("SIGHUP: reloading")
				c.reloader.reload()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
		wg.Wait()
	}
}
