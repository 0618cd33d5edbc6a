package relay

import (
	"fmt"
	"slices"
	"testing"
)

func TestRankIsAPermutationAndStable(t *testing.T) {
	origins := []string{"10.0.0.1:1935", "10.0.0.2:1935", "10.0.0.3:1935"}
	for _, key := range []string{"live/a", "live/b", "app/x", ""} {
		got := Rank(key, origins)
		again := Rank(key, []string{origins[2], origins[0], origins[1]})
		if !slices.Equal(got, again) {
			t.Errorf("%q: rank depends on input order: %v vs %v", key, got, again)
		}
		sorted := slices.Clone(got)
		slices.Sort(sorted)
		if !slices.Equal(sorted, origins) {
			t.Errorf("%q: %v is not a permutation of %v", key, got, origins)
		}
	}
	if got := Rank("live/a", nil); len(got) != 0 {
		t.Errorf("no origins ranked as %v", got)
	}
}

// TestRankSpreadsStreams checks the owners are spread evenly: with 4
// origins and 4000 streams each owns 1000 ± 15 %.
func TestRankSpreadsStreams(t *testing.T) {
	origins := []string{"o1:1935", "o2:1935", "o3:1935", "o4:1935"}
	owned := map[string]int{}
	for i := range 4000 {
		owned[Rank(fmt.Sprintf("live/s%d", i), origins)[0]]++
	}
	for _, o := range origins {
		if n := owned[o]; n < 850 || n > 1150 {
			t.Errorf("%s owns %d of 4000 streams: %v", o, n, owned)
		}
	}
}

// TestRankMovesOnlyTheStreamsOfAChangedOrigin is the property that lets an
// orchestrator add and remove origins: removing one moves exactly its
// streams (each to its next-ranked origin), adding one moves streams only
// to the new origin.
func TestRankMovesOnlyTheStreamsOfAChangedOrigin(t *testing.T) {
	before := []string{"o1:1935", "o2:1935", "o3:1935"}
	removed := []string{"o1:1935", "o3:1935"}
	added := []string{"o1:1935", "o2:1935", "o3:1935", "o4:1935"}
	movedIn := 0
	for i := range 3000 {
		key := fmt.Sprintf("live/s%d", i)
		r := Rank(key, before)
		if owner := Rank(key, removed)[0]; r[0] != "o2:1935" && owner != r[0] {
			t.Fatalf("%s moved from %s to %s though its origin stayed", key, r[0], owner)
		} else if r[0] == "o2:1935" && owner != r[1] {
			t.Fatalf("%s: owner gone, went to %s, not its next-ranked %s", key, owner, r[1])
		}
		if owner := Rank(key, added)[0]; owner != r[0] {
			if owner != "o4:1935" {
				t.Fatalf("%s moved from %s to %s, not to the new origin", key, r[0], owner)
			}
			movedIn++
		}
	}
	if movedIn < 600 || movedIn > 900 { // a quarter of 3000, ± 20 %
		t.Errorf("adding a 4th origin moved %d of 3000 streams, want about 750", movedIn)
	}
}
