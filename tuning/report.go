package tuning

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the plan for people: one row per setting with its
// current and new value and the reason, kept settings marked "=" with why.
func (p *Plan) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "online CPUs %s", p.Online.List())
	if p.Reserved.Len() > 0 {
		fmt.Fprintf(tw, ", reserved for the server %s", p.Reserved.List())
	}
	fmt.Fprintf(tw, "; devices %s\n", strings.Join(p.Devices, ", "))
	for _, n := range p.Notes {
		fmt.Fprintf(tw, "note: %s\n", n)
	}
	for _, wn := range p.Warnings {
		fmt.Fprintf(tw, "warning: %s\n", wn)
	}
	fmt.Fprintln(tw, "KIND\tSCOPE\tTARGET\tCURRENT\t\tNEW\tREASON")
	for _, c := range p.Changes {
		newv, reason := c.New, c.Reason
		if c.Skip != "" {
			newv, reason = "=", "kept: "+c.Skip
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t→\t%s\t%s\n", c.Kind, c.Scope, c.Target, cell(c.Current), cell(newv), reason)
	}
	n, u := len(p.Pending()), len(p.Unwritable())
	fmt.Fprintf(tw, "%d change(s) to apply, %d setting(s) kept", n, len(p.Changes)-n)
	if u > 0 {
		fmt.Fprintf(tw, " (%d of them cannot be set from here)", u)
	}
	fmt.Fprintln(tw)
	return tw.Flush()
}

// WriteUnwritable prints, after an apply, each setting that was skipped
// because it cannot be written from here, with the reason.
func (p *Plan) WriteUnwritable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range p.Unwritable() {
		fmt.Fprintf(tw, "skipped\t%s\t%s\t%s\n", c.Kind, c.Target, c.Skip)
	}
	return tw.Flush()
}

// cell keeps multi-field sysctl values (tab separated in /proc) in one column.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Join(strings.Fields(s), " ")
}

// WriteSummary prints what an apply or revert wrote, one line per file.
func (st *State) WriteSummary(w io.Writer, verb string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range st.Entries {
		from, to := e.Old, e.New
		if verb == "reverted" {
			from, to = e.New, e.Old
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t→\t%s\n", e.Kind, e.Target, cell(from), cell(to))
	}
	fmt.Fprintf(tw, "%s %d setting(s)\n", verb, len(st.Entries))
	return tw.Flush()
}
