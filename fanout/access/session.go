package access

// Active reports whether any check is configured (tokens, a hook, an
// address list or a limit). Protocols whose viewers make many requests
// (HLS) keep sessions only then; with none, they serve as if access
// control did not exist.
func (c *Controller) Active() bool { return c.policy.Load().active }

// checksAnything reports whether the policy has any check to make.
func (p *policy) checksAnything() bool {
	if p.keys.enabled() || p.hook != nil || p.limits != (limits{}) {
		return true
	}
	for _, r := range p.ip {
		if len(r.allow) > 0 || len(r.deny) > 0 {
			return true
		}
	}
	return false
}

// CheckAddress applies action's address lists to remote ("ip:port"), for
// the requests that continue an admitted session (an HLS viewer's
// segments): the lists in force now, so a reload that denies an address
// stops its sessions at their next request. A refusal is counted, not
// logged: the caller logs per viewer, not per request.
func (c *Controller) CheckAddress(action Action, remote string) error {
	r := Request{Action: action, Remote: remote}
	if ref := c.policy.Load().ip[action].check(r.addr()); ref != nil {
		c.m.refused.WithLabelValues(string(action), ref.Reason).Inc()
		return ref
	}
	return nil
}
