package access

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bbllive/bbllive/fanout/logtest"
)

// counterValue reads one counter.
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// newTestController builds a controller logging into the returned buffer.
func newTestController(t *testing.T, cfg Config) (*Controller, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	c, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, logs
}

// mint signs a token or fails the test.
func mint(t testing.TB, o MintOptions) string {
	t.Helper()
	tok, err := Mint(o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// reasonOf is the refusal reason of err, "" for nil.
func reasonOf(t testing.TB, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	r, ok := err.(*Refusal)
	if !ok {
		t.Fatalf("error %v (%T) is not a *Refusal", err, err)
	}
	return r.Reason
}

func admit(c *Controller, r Request) (*Admission, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Admit(ctx, r)
}
