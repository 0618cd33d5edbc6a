package access

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Controller is access control: it admits or refuses every publish and
// play, counts what it admitted for the limits, and sends the hooks. Its
// configuration is swapped whole by Reload without touching anyone
// admitted before.
type Controller struct {
	policy atomic.Pointer[policy]
	log    *slog.Logger
	client *http.Client
	notify *notifier
	m      *metrics
	now    func() time.Time

	mu    sync.Mutex
	count counts
}

// New builds a controller from cfg; an error names the setting at fault.
func New(cfg Config, log *slog.Logger) (*Controller, error) {
	p, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Controller{log: log, m: newMetrics(), now: time.Now,
		count: counts{perStream: map[string]int{}, published: map[string]int{}},
		// Redirects are not followed: a hook's answer is its own status.
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute}},
	}
	c.notify = newNotifier(c.client, c.m, log)
	c.policy.Store(p)
	return c, nil
}

// Reload replaces the configuration. On an error the previous one stays in
// force. Admitted connections are never re-checked: a rotated secret or a
// lowered limit applies to the next requests.
func (c *Controller) Reload(cfg Config) error {
	p, err := cfg.compile()
	if err != nil {
		return err
	}
	c.policy.Store(p)
	return nil
}

// Close stops the notification workers; notifications still queued are
// dropped.
func (c *Controller) Close() { c.notify.close() }

// Admit decides r. It runs on the caller's goroutine and may wait for the
// hook (up to its timeout), so call it where waiting is harmless — a
// session's own goroutine, never an io_uring worker. On success the caller
// holds an Admission and must call its Done when the client goes (also
// when the request fails later for another reason); a refusal is a
// *Refusal, already counted and logged.
func (c *Controller) Admit(ctx context.Context, r Request) (*Admission, error) {
	p := c.policy.Load()
	if ref := c.check(p, &r); ref != nil {
		return nil, c.refused(&r, ref)
	}
	c.mu.Lock()
	ref := c.count.reserve(p.limits, &r)
	c.mu.Unlock()
	if ref != nil {
		return nil, c.refused(&r, ref)
	}
	a := &Admission{c: c, r: r}
	if ref := c.hooks(ctx, p, &r); ref != nil {
		a.release()
		return nil, c.refused(&r, ref)
	}
	return a, nil
}

// check applies the address lists and the token.
func (c *Controller) check(p *policy, r *Request) *Refusal {
	if ref := p.ip[r.Action].check(r.addr()); ref != nil {
		return ref
	}
	if p.keys.enabled() {
		return p.keys.verify(r, c.now())
	}
	return nil
}

// hooks asks the hook about the connection, then about its action.
func (c *Controller) hooks(ctx context.Context, p *policy, r *Request) *Refusal {
	if p.hook == nil {
		return nil
	}
	event := EventPlay
	if r.Action == Publish {
		event = EventPublish
	}
	for _, ev := range []string{EventConnect, event} {
		res, why := p.hook.post(ctx, c.client, newHookEvent(ev, r))
		c.m.hookCalls.WithLabelValues(ev, string(res)).Inc()
		switch {
		case res == hookRefused:
			return refuse(ReasonHookRefused, ev+": "+why)
		case res == hookError && p.hook.failOpen:
			c.log.Warn("hook failed; admitting (fail-open)", "event", ev, "stream", r.Stream(), "why", why)
		case res == hookError:
			return refuse(ReasonHookFailed, ev+": "+why)
		}
	}
	return nil
}

// refused counts and logs a refusal; the token itself is never logged.
func (c *Controller) refused(r *Request, ref *Refusal) error {
	c.m.refused.WithLabelValues(string(r.Action), ref.Reason).Inc()
	c.log.Warn("access refused", "action", r.Action, "stream", r.Stream(), "client", r.Remote,
		"protocol", r.Protocol, "id", r.ID, "reason", ref.Reason, "detail", ref.Detail)
	return ref
}

// Admission is an admitted publish or play. Done must be called once the
// client is gone; it is safe on a nil Admission and after the first call.
type Admission struct {
	c    *Controller
	r    Request
	done atomic.Bool
}

// Done ends the admission: the limits count it no longer, and the hook
// hears on_unpublish or on_stop. It never blocks, so any goroutine may
// call it (an io_uring worker included).
func (a *Admission) Done() {
	if a == nil || a.done.Swap(true) {
		return
	}
	a.release()
	if t := a.c.policy.Load().hook; t != nil {
		event := EventStop
		if a.r.Action == Publish {
			event = EventUnpublish
		}
		a.c.notify.enqueue(t, newHookEvent(event, &a.r))
	}
}

func (a *Admission) release() {
	a.done.Store(true)
	a.c.mu.Lock()
	a.c.count.release(&a.r)
	a.c.mu.Unlock()
}
