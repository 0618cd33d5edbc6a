package access

import "github.com/prometheus/client_golang/prometheus"

// metrics are the controller's counters; the Controller is their
// prometheus.Collector.
type metrics struct {
	refused       *prometheus.CounterVec
	hookCalls     *prometheus.CounterVec
	notifyDropped prometheus.Counter
	admitted      *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbllive_access_refused_total",
			Help: "Publishes and plays refused by access control, by action and reason."}, []string{"action", "reason"}),
		hookCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbllive_access_hook_requests_total",
			Help: "HTTP hook requests by event and result (ok, refused: a non-2xx answer, error: no answer in time or none at all)."},
			[]string{"event", "result"}),
		notifyDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "bbllive_access_hook_notifications_dropped_total",
			Help: "on_unpublish and on_stop notifications dropped because the hook queue was full."}),
		admitted: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bbllive_access_admitted",
			Help: "Connections admitted and not yet ended, by action: what the limits count."}, []string{"action"}),
	}
	for _, a := range []Action{Publish, Play} {
		for _, r := range reasons {
			m.refused.WithLabelValues(string(a), r)
		}
		m.admitted.WithLabelValues(string(a))
	}
	return m
}

// Describe implements prometheus.Collector.
func (c *Controller) Describe(ch chan<- *prometheus.Desc) {
	c.m.refused.Describe(ch)
	c.m.hookCalls.Describe(ch)
	c.m.notifyDropped.Describe(ch)
	c.m.admitted.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Controller) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	c.m.admitted.WithLabelValues(string(Publish)).Set(float64(c.count.publishers))
	c.m.admitted.WithLabelValues(string(Play)).Set(float64(c.count.players))
	c.mu.Unlock()
	c.m.refused.Collect(ch)
	c.m.hookCalls.Collect(ch)
	c.m.notifyDropped.Collect(ch)
	c.m.admitted.Collect(ch)
}
