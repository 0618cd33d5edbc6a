package relay

import (
	"hash/fnv"
	"sort"
)

// weight is the rendezvous weight of origin for key: a stable 64-bit hash
// of both (the same in every process and on every machine, unlike
// hash/maphash), finished with the splitmix64 mixer so that origins whose
// names differ in one character still spread evenly.
func weight(origin, key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(origin))
	h.Write([]byte{0})
	h.Write([]byte(key))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Rank orders origins (by their identities, e.g. "host:port") for the
// stream key, owner first: highest rendezvous weight first, ties broken by
// name so that the order is total. origins is not modified.
func Rank(key string, origins []string) []string {
	type scored struct {
		name string
		w    uint64
	}
	s := make([]scored, len(origins))
	for i, o := range origins {
		s[i] = scored{o, weight(o, key)}
	}
	sort.Slice(s, func(i, j int) bool {
		if s[i].w != s[j].w {
			return s[i].w > s[j].w
		}
		return s[i].name < s[j].name
	})
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i].name
	}
	return out
}
