package access

import (
	"fmt"
	"net/netip"
	"strings"
)

// IPList is a set of address ranges.
type IPList []netip.Prefix

// ParseIPList reads a comma-separated list of CIDRs or single addresses
// ("10.0.0.0/8, 192.0.2.7, ::1"); "" is the empty list.
func ParseIPList(s string) (IPList, error) {
	var out IPList
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q: not an address or CIDR", f)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", f, err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Contains reports whether a falls in one of the ranges.
func (l IPList) Contains(a netip.Addr) bool {
	for _, p := range l {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ipRule is one action's lists: deny wins; a non-empty allow list admits
// only what it contains.
type ipRule struct{ allow, deny IPList }

func (r ipRule) check(a netip.Addr) *Refusal {
	if r.deny.Contains(a) {
		return refuse(ReasonIPDenied, "the client address is denied")
	}
	if len(r.allow) > 0 && !r.allow.Contains(a) {
		return refuse(ReasonIPDenied, "the client address is not allowed")
	}
	return nil
}
