// Command bbllive is an RTMP live-streaming server.
//
//	bbllive [serve] [flags]   run the server (the default)
//	bbllive tune plan|apply|revert [flags]
//	bbllive bench run|play|publish|synth|floor [flags]
//	bbllive token -secret S -action publish|play -stream app/name [-ttl 1h]
//	bbllive version
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

var subcommands = map[string]func(args []string) int{
	"serve":   runServe,
	"tune":    runTune,
	"bench":   runBench,
	"token":   runToken,
	"version": runVersion,
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 {
		if cmd, ok := subcommands[args[0]]; ok {
			os.Exit(cmd(args[1:]))
		}
		switch args[0] {
		case "help", "-h", "-help", "--help":
			usage()
			os.Exit(0)
		}
		if args[0][0] != '-' {
			fmt.Fprintf(os.Stderr, "bbllive: unknown command %q\n\n", args[0])
			usage()
			os.Exit(2)
		}
	}
	os.Exit(runServe(args))
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: bbllive [command] [flags]

commands:
  serve     run the RTMP server (the default; "bbllive serve -h" lists its flags)
  tune      plan, apply or revert kernel tuning for multiqueue NICs
  bench     load generator, publisher emulator and benchmark harness
  token     print a signed token for -auth-secret / -auth-jwks
  version   print the version
`)
}

// usageError is a command line of serve the flag package could not read.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// serveArgsFailed reports why serve's settings were refused, as Go's own
// tools do: -h prints the flags (exit 0); anything else prints its error
// once, and a command line the flag package could not read adds the usage
// line and where the flags are listed (exit 2).
func serveArgsFailed(w io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		printServeUsage(w)
		return 0
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, "bbllive:", line)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprint(w, "usage: bbllive [serve] [flags]\nRun 'bbllive serve -h' for the flags.\n")
	}
	return 2
}

// printServeUsage is serve's -h: the flag package's own listing of every
// flag (type, usage, default), whose usage serveFlags ended with the range
// or the words the flag allows; the header says what a range left unsaid
// is (bound.help).
func printServeUsage(w io.Writer) {
	fmt.Fprint(w, "usage: bbllive [serve] [flags]\n\n"+
		"flags (also the keys of the -config file; a duration or count must be positive unless its text says more):\n")
	// PrintDefaults calls only its own duration type "duration"; ours (for
	// its parse error) it would call "value". So it prints a copy whose
	// duration flags are the flag package's, every other flag as it is.
	out := flag.NewFlagSet("serve", flag.ContinueOnError)
	serveFlags(&serveConfig{}).VisitAll(func(f *flag.Flag) {
		if d, ok := f.Value.(*durationValue); ok {
			out.Duration(f.Name, time.Duration(*d), f.Usage)
			return
		}
		out.Var(f.Value, f.Name, f.Usage)
	})
	out.SetOutput(w)
	out.PrintDefaults()
}
