package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of a server's Prometheus /metrics.
type Metrics map[string]*dto.MetricFamily

// scrapeTimeout bounds one scrape: a server too busy to answer in that
// time is reported, not waited for.
const scrapeTimeout = 5 * time.Second

// maxScrapeBytes bounds what one scrape reads (the registry's labels are
// bounded by the streams, so a real one is a few hundred KB at most).
const maxScrapeBytes = 16 << 20

// ScrapeMetrics fetches and parses http://httpAddr/metrics.
func ScrapeMetrics(ctx context.Context, httpAddr string) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: scraping %s: %w", httpAddr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: scraping %s/metrics: %s", httpAddr, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, maxScrapeBytes))
	if err != nil {
		return nil, fmt.Errorf("bench: parsing %s/metrics: %w", httpAddr, err)
	}
	return Metrics(mfs), nil
}

// Value is the value of name's single unlabelled series (a gauge or a
// counter), 0 if the server does not export it.
func (m Metrics) Value(name string) float64 {
	mf := m[name]
	if mf == nil || len(mf.GetMetric()) == 0 {
		return 0
	}
	return metricValue(mf.GetMetric()[0])
}

// ByLabel is name's series keyed by the value of their label: e.g.
// ByLabel("bbllive_stream_players", "stream") is the players of each
// stream.
func (m Metrics) ByLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	mf := m[name]
	if mf == nil {
		return out
	}
	for _, s := range mf.GetMetric() {
		for _, lp := range s.GetLabel() {
			if lp.GetName() == label {
				out[lp.GetValue()] += metricValue(s)
			}
		}
	}
	return out
}

func metricValue(s *dto.Metric) float64 {
	switch {
	case s.GetGauge() != nil:
		return s.GetGauge().GetValue()
	case s.GetCounter() != nil:
		return s.GetCounter().GetValue()
	case s.GetUntyped() != nil:
		return s.GetUntyped().GetValue()
	}
	return 0
}
