package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bbllive/bbllive/tuning"
)

const tuneUsage = `usage: bbllive tune plan|apply|revert [flags]

  plan    print what would change (current → new, reason); changes nothing
  apply   write the plan, saving the replaced values to the state file
  revert  restore exactly what the last apply replaced

flags:
`

// tuneFlags are the flags of "bbllive tune".
type tuneFlags struct {
	dev, state, reserve, only string
	json                      bool
}

func newTuneFlagSet(f *tuneFlags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("bbllive tune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.dev, "dev", "", "tune only these NICs (comma-separated); default: every NIC backed by hardware")
	fs.BoolVar(&f.json, "json", false, "print JSON for machines instead of a table")
	fs.StringVar(&f.state, "state", tuning.DefaultStatePath, "state file that apply writes and revert reads (in a network namespace other than the host's, the default carries its inode number)")
	fs.StringVar(&f.reserve, "reserve-cpus", "", "keep CPUs free for the server: a count N (the N highest) or a list like 6-7")
	fs.StringVar(&f.only, "only", "", "limit to some of irq,rps,rfs,xps,sysctl")
	fs.Usage = func() {
		fmt.Fprint(stderr, tuneUsage)
		fs.PrintDefaults()
	}
	return fs
}

// runTune is "bbllive tune": args exclude the word "tune". Flags may come
// before or after the verb.
func runTune(args []string) int {
	var f tuneFlags
	fs := newTuneFlagSet(&f, os.Stderr)
	verb, err := parseTuneArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bbllive tune: %v\n", err)
		fs.Usage()
		return 2
	}
	if !flagGiven(fs, "state") {
		f.state = tuning.StatePathFor(tuning.CurrentNetNS("/"))
	}
	switch verb {
	case "plan", "apply":
		err = tunePlanApply(verb, f)
	case "revert":
		if f.dev != "" || f.reserve != "" || f.only != "" {
			fmt.Fprintln(os.Stderr, "bbllive tune revert: restores everything in the state file; -dev, -reserve-cpus and -only do not apply")
			return 2
		}
		err = tuneRevert(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bbllive tune %s: %v\n", verb, err)
		return 1
	}
	return 0
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

func parseTuneArgs(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", errors.New("missing plan, apply or revert")
	}
	verb := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch verb {
	case "plan", "apply", "revert":
		return verb, nil
	}
	return "", fmt.Errorf("unknown verb %q", verb)
}

func tuneOptions(f tuneFlags) (tuning.Options, error) {
	var opts tuning.Options
	for d := range strings.SplitSeq(f.dev, ",") {
		if d = strings.TrimSpace(d); d != "" {
			opts.Devices = append(opts.Devices, d)
		}
	}
	kinds, err := tuning.ParseKinds(f.only)
	if err != nil {
		return opts, fmt.Errorf("-only: %w", err)
	}
	opts.Kinds = kinds
	return opts, nil
}

func tunePlanApply(verb string, f tuneFlags) error {
	opts, err := tuneOptions(f)
	if err != nil {
		return err
	}
	sys, err := tuning.Discover(opts)
	if err != nil {
		return err
	}
	if opts.Reserve, err = tuning.ParseReserve(f.reserve, sys.Online); err != nil {
		return fmt.Errorf("-reserve-cpus: %w", err)
	}
	plan, err := tuning.MakePlan(sys, opts)
	if err != nil {
		return err
	}
	if verb == "plan" {
		if f.json {
			return writeJSON(plan)
		}
		return plan.WriteTable(os.Stdout)
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(os.Stderr, "warning: %s\n", w)
	}
	st, err := tuning.Apply(plan, f.state)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(struct {
			Plan    *tuning.Plan  `json:"plan"`
			Applied *tuning.State `json:"applied"`
			State   string        `json:"state_file,omitempty"`
		}{plan, st, stateFileIf(st, f.state)})
	}
	for _, n := range plan.Notes {
		fmt.Printf("note: %s\n", n)
	}
	if err := plan.WriteUnwritable(os.Stdout); err != nil {
		return err
	}
	if len(st.Entries) == 0 {
		fmt.Println("nothing to change: every setting that can be set from here is already tuned")
		return nil
	}
	if err := st.WriteSummary(os.Stdout, "applied"); err != nil {
		return err
	}
	fmt.Printf("saved the replaced values to %s; undo with: bbllive tune revert -state %s\n", f.state, f.state)
	return nil
}

func stateFileIf(st *tuning.State, path string) string {
	if len(st.Entries) == 0 {
		return ""
	}
	return path
}

func tuneRevert(f tuneFlags) error {
	st, err := tuning.Revert("/", f.state)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(struct {
			Reverted *tuning.State `json:"reverted"`
		}{st})
	}
	return st.WriteSummary(os.Stdout, "reverted")
}

func writeJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
