package tuning

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// MaxCPUs bounds the CPU numbers this package accepts. It is the largest
// NR_CPUS a Linux kernel can be built with; parsing stops there so that a
// hostile or corrupt "0-4000000000" cannot allocate gigabytes.
const MaxCPUs = 8192

// CPUSet is a set of CPU numbers as the kernel's cpulist ("0-3,8") and
// hexadecimal mask ("0000000f,000000ff") files describe them. The zero value
// is the empty set.
type CPUSet struct {
	words []uint64
}

// NewCPUSet returns the set holding cpus. Numbers outside [0, MaxCPUs) are
// ignored because no kernel can name them.
func NewCPUSet(cpus ...int) CPUSet {
	var s CPUSet
	for _, c := range cpus {
		s.Add(c)
	}
	return s
}

// Add puts cpu into the set.
func (s *CPUSet) Add(cpu int) {
	if cpu < 0 || cpu >= MaxCPUs {
		return
	}
	w := cpu / 64
	for len(s.words) <= w {
		s.words = append(s.words, 0)
	}
	s.words[w] |= 1 << (uint(cpu) % 64)
}

// Has reports whether cpu is in the set.
func (s CPUSet) Has(cpu int) bool {
	if cpu < 0 {
		return false
	}
	w := cpu / 64
	return w < len(s.words) && s.words[w]&(1<<(uint(cpu)%64)) != 0
}

// Len is the number of CPUs in the set.
func (s CPUSet) Len() int {
	n := 0
	for _, w := range s.words {
		n += bits.OnesCount64(w)
	}
	return n
}

// CPUs lists the members in ascending order.
func (s CPUSet) CPUs() []int {
	var out []int
	for i, w := range s.words {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			out = append(out, i*64+b)
			w &^= 1 << uint(b)
		}
	}
	return out
}

// Equal reports whether both sets hold the same CPUs.
func (s CPUSet) Equal(o CPUSet) bool {
	n := max(len(s.words), len(o.words))
	for i := range n {
		if s.word(i) != o.word(i) {
			return false
		}
	}
	return true
}

// Union returns the CPUs in either set.
func (s CPUSet) Union(o CPUSet) CPUSet {
	out := CPUSet{words: make([]uint64, max(len(s.words), len(o.words)))}
	for i := range out.words {
		out.words[i] = s.word(i) | o.word(i)
	}
	return out.trim()
}

// Intersect returns the CPUs in both sets.
func (s CPUSet) Intersect(o CPUSet) CPUSet {
	out := CPUSet{words: make([]uint64, min(len(s.words), len(o.words)))}
	for i := range out.words {
		out.words[i] = s.word(i) & o.word(i)
	}
	return out.trim()
}

// Minus returns the CPUs of s that are not in o.
func (s CPUSet) Minus(o CPUSet) CPUSet {
	out := CPUSet{words: make([]uint64, len(s.words))}
	for i := range out.words {
		out.words[i] = s.word(i) &^ o.word(i)
	}
	return out.trim()
}

func (s CPUSet) word(i int) uint64 {
	if i < len(s.words) {
		return s.words[i]
	}
	return 0
}

func (s CPUSet) trim() CPUSet {
	for len(s.words) > 0 && s.words[len(s.words)-1] == 0 {
		s.words = s.words[:len(s.words)-1]
	}
	return s
}

// String is the cpulist form, "" for the empty set.
func (s CPUSet) String() string { return s.List() }

// List renders the set in the kernel's cpulist syntax ("0-3,8,10-11"), the
// form smp_affinity_list accepts.
func (s CPUSet) List() string {
	cpus := s.CPUs()
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}

// Mask renders the set as the kernel's hexadecimal bitmap: 32-bit groups,
// most significant first, separated by commas ("1,00000003" is CPUs 0, 1
// and 32). The empty set is "0", which rps_cpus and xps_cpus read as "off".
func (s CPUSet) Mask() string {
	cpus := s.CPUs()
	if len(cpus) == 0 {
		return "0"
	}
	groups := cpus[len(cpus)-1]/32 + 1
	var b strings.Builder
	for g := groups - 1; g >= 0; g-- {
		v := uint32(s.word(g/2) >> (uint(g%2) * 32))
		if g == groups-1 {
			fmt.Fprintf(&b, "%x", v)
			continue
		}
		fmt.Fprintf(&b, ",%08x", v)
	}
	return b.String()
}

// ParseCPUList parses the kernel's cpulist syntax: comma-separated numbers
// and inclusive ranges ("0-3,8"). Surrounding whitespace and an empty list
// are allowed; the kernel never prints the strided "a-b:c/d" form in the
// files read here, so it is rejected rather than half-understood.
func ParseCPUList(s string) (CPUSet, error) {
	var set CPUSet
	s = strings.TrimSpace(s)
	if s == "" {
		return set, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		if err := addRange(&set, strings.TrimSpace(part)); err != nil {
			return CPUSet{}, fmt.Errorf("cpu list %q: %w", clip(s), err)
		}
	}
	return set, nil
}

func addRange(set *CPUSet, part string) error {
	loText, hiText, isRange := strings.Cut(part, "-")
	lo, err := parseCPU(loText)
	if err != nil {
		return err
	}
	hi := lo
	if isRange {
		if hi, err = parseCPU(hiText); err != nil {
			return err
		}
	}
	if hi < lo {
		return fmt.Errorf("range %q runs backwards", part)
	}
	for c := lo; c <= hi; c++ {
		set.Add(c)
	}
	return nil
}

func parseCPU(s string) (int, error) {
	if !isDigits(s) || len(s) > 6 {
		return 0, fmt.Errorf("%q is not a CPU number", clip(s))
	}
	n, _ := strconv.Atoi(s)
	if n >= MaxCPUs {
		return 0, fmt.Errorf("CPU %d is beyond the kernel's limit of %d", n, MaxCPUs)
	}
	return n, nil
}

// ParseCPUMask parses the kernel's hexadecimal bitmap ("3", "ff,00000001"):
// comma-separated groups of up to eight hex digits, most significant first.
func ParseCPUMask(s string) (CPUSet, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return CPUSet{}, fmt.Errorf("empty cpu mask")
	}
	groups := strings.Split(s, ",")
	if len(groups) > MaxCPUs/32 {
		return CPUSet{}, fmt.Errorf("cpu mask %q: more than %d CPUs", clip(s), MaxCPUs)
	}
	var set CPUSet
	for i, g := range groups {
		if len(g) == 0 || len(g) > 8 {
			return CPUSet{}, fmt.Errorf("cpu mask %q: group %q is not 1-8 hex digits", clip(s), clip(g))
		}
		v, err := strconv.ParseUint(g, 16, 32)
		if err != nil {
			return CPUSet{}, fmt.Errorf("cpu mask %q: group %q is not hexadecimal", clip(s), clip(g))
		}
		base := (len(groups) - 1 - i) * 32
		for b := 0; v != 0; b++ {
			if v&1 != 0 {
				set.Add(base + b)
			}
			v >>= 1
		}
	}
	return set.trim(), nil
}

// clip shortens text quoted in errors so that a megabyte of garbage input does
// not become a megabyte of error message.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MarshalText renders the set as a cpulist, so JSON shows "0-3" rather
// than bitmap words.
func (s CPUSet) MarshalText() ([]byte, error) { return []byte(s.List()), nil }

// UnmarshalText parses a cpulist.
func (s *CPUSet) UnmarshalText(b []byte) error {
	set, err := ParseCPUList(string(b))
	if err != nil {
		return err
	}
	*s = set
	return nil
}

// ParseReserve reads the -reserve-cpus flag: a count N keeps the N
// highest-numbered online CPUs for the server, a cpulist ("2-3") names them.
// At least one online CPU must stay for interrupts.
func ParseReserve(s string, online CPUSet) (CPUSet, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return CPUSet{}, nil
	}
	var set CPUSet
	if isDigits(s) && !strings.ContainsAny(s, ",-") && len(s) <= 6 {
		n, _ := strconv.Atoi(s)
		cpus := online.CPUs()
		if n >= len(cpus) {
			return CPUSet{}, fmt.Errorf("reserve %d CPUs: only %d online (%s), at least one must take interrupts", n, len(cpus), online.List())
		}
		return NewCPUSet(cpus[len(cpus)-n:]...), nil
	}
	set, err := ParseCPUList(s)
	if err != nil {
		return CPUSet{}, fmt.Errorf("reserve: %w", err)
	}
	return set, checkReserve(set, online)
}
