package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// serverRows are the per-server lines of the cluster table.
var serverRows = []struct {
	label string
	cell  func(s *TierServer) string
}{
	{"address", func(s *TierServer) string { return s.Addr }},
	{"CPU % of a core", func(s *TierServer) string { return f1(s.CPUPercent) }},
	{"RSS MiB (peak)", func(s *TierServer) string {
		return fmt.Sprintf("%.0f (%.0f)", float64(s.RSSBytes)/(1<<20), float64(s.PeakRSSBytes)/(1<<20))
	}},
	{"players (origin: pulls)", func(s *TierServer) string { return fmt.Sprint(s.Players) }},
	{"publishers (edge: pulls too)", func(s *TierServer) string { return fmt.Sprint(s.Publishers) }},
	{"edge pulls/forwards", func(s *TierServer) string {
		if s.Tier != TierEdge {
			return "-"
		}
		return fmt.Sprintf("%d/%d", s.EdgePulls, s.EdgeForwards)
	}},
}

// WriteClusterTable prints a cluster run for a terminal: a column per
// server, the tiers' totals, the single server beside them when measured,
// the players' figures and the upstream check — a mismatch in capitals.
func WriteClusterTable(w io.Writer, r *ClusterResult) {
	fmt.Fprintf(w, "cluster: %s, %s; %s of %d kbit/s published to %s; %s over the edges; %.0f s window\n",
		Counted(r.Origins, "origin", "origins"), Counted(r.Edges, "edge", "edges"), Counted(r.Streams, "stream", "streams"),
		r.Stream.Bitrate/1000, tierPlural(r.PublishTo), Counted(r.Players, r.Play+" player", r.Play+" players"), r.WindowS)
	if r.Error != "" {
		fmt.Fprintf(w, "cluster run failed: %s\n", r.Error)
	} else {
		writeServers(w, r)
		r.Load.WriteText(w)
		fmt.Fprintf(w, "load generator %.1f %% of a core, publishers %.1f %%; players started %.0f ms after the publishers, once every owner had a keyframe\n",
			r.GenCPUPercent, r.PubCPUPercent, r.OwnersReadyMs)
		writeUpstreams(w, &r.Upstreams)
	}
	if s := r.Single; s != nil {
		if s.Error != "" {
			fmt.Fprintf(w, "single server failed: %s\n", s.Error)
		} else if r.Error == "" && s.CPUPer1000 > 0 {
			fmt.Fprintf(w, "edge tier / single server, CPU per 1000 players: %.2f; whole cluster / single server: %.2f\n",
				r.EdgeTier.CPUPer1000/s.CPUPer1000, (r.EdgeTier.CPUPercent+r.OriginTier.CPUPercent)/s.ServerCPUPercent)
		}
	}
}

func tierPlural(publishTo string) string { return publishTo + "s" }

// Counted is n and the noun that goes with it, for output people read:
// "1 pull", "2 pulls".
func Counted(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// pullsAndForwards is what an origin's upstreams are.
func pullsAndForwards(pulls, forwards int) string {
	return Counted(pulls, "pull", "pulls") + ", " + Counted(forwards, "forwarded publish", "forwarded publishes")
}

func writeServers(w io.Writer, r *ClusterResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "\t")
	for i := range r.Servers {
		fmt.Fprintf(tw, "%s\t", r.Servers[i].Name())
	}
	fmt.Fprintln(tw)
	for _, row := range serverRows {
		fmt.Fprintf(tw, "%s\t", row.label)
		for i := range r.Servers {
			fmt.Fprintf(tw, "%s\t", row.cell(&r.Servers[i]))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tier\tservers\tCPU % of a core\tper 1000 players\tRSS MiB\t")
	tier := func(name string, n int, cpu, per1000 float64, rss uint64) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.0f\t\n", name, n, cpu, per1000, float64(rss)/(1<<20))
	}
	tier("origin", r.OriginTier.Servers, r.OriginTier.CPUPercent, r.OriginTier.CPUPer1000, r.OriginTier.RSSBytes)
	tier("edge", r.EdgeTier.Servers, r.EdgeTier.CPUPercent, r.EdgeTier.CPUPer1000, r.EdgeTier.RSSBytes)
	if s := r.Single; s != nil && s.Error == "" {
		tier("single server", 1, s.ServerCPUPercent, s.CPUPer1000, s.RSSBytes)
	}
	tw.Flush()
}

func writeUpstreams(w io.Writer, u *UpstreamCheck) {
	var owners []string
	for _, s := range u.Streams {
		owners = append(owners, fmt.Sprintf("%s → %s (published to %s, %s)", s.Stream, s.Owner, s.PublishedTo, Counted(s.WantPulls, "pull", "pulls")))
	}
	if u.OK {
		fmt.Fprintf(w, "upstreams    ok: %d on the origins (%s), each stream's on its owner only: %s\n",
			u.Got, pullsAndForwards(u.Pulls, u.Forwards), strings.Join(owners, "; "))
		return
	}
	fmt.Fprintf(w, "UPSTREAM MISMATCH: the origins serve %s (%s), want %d; plan: %s\n",
		Counted(u.Got, "upstream", "upstreams"), pullsAndForwards(u.Pulls, u.Forwards), u.Want, strings.Join(owners, "; "))
	for _, m := range u.Mismatches {
		fmt.Fprintf(w, "  MISMATCH %s\n", m)
	}
}

// WriteJSON writes the result, indented.
func (r *ClusterResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
