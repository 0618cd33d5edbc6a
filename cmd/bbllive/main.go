// Command bbllive is an RTMP live-streaming server.
//
//	bbllive [serve] [flags]   run the server (the default)
//	bbllive tune plan|apply|revert [flags]
//	bbllive bench run|play|publish|synth|floor [flags]
//	bbllive token -secret S -action publish|play -stream app/name [-ttl 1h]
//	bbllive version
package main

import (
	"fmt"
	"os"
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
