package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/metrics"
)

// TestMetricDocsCoverEveryMetric keeps docs/metrics.md complete: every
// usher_ metric, once each kind has been observed, has a row.
func TestMetricDocsCoverEveryMetric(t *testing.T) {
	data, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Options{Features: features, Checkpoints: checkpoints, EventLog: fakeEventLog{}})
	for _, typ := range []string{usher.EventLeaseGranted, usher.EventCheckoutDenied, usher.EventLeaseReleased} {
		m.Observe(usher.Event{Type: typ, Feature: "cad"})
	}
	m.InstrumentHandler(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	_ = m.InstrumentStore(nopStore{}).PutLease(context.Background(), usher.Lease{})
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "usher_") {
			continue
		}
		n++
		if !strings.Contains(string(data), "| `"+f.GetName()+"` |") {
			t.Errorf("docs/metrics.md lacks a row for %s", f.GetName())
		}
	}
	if n < 14 {
		t.Errorf("only %d usher_ metrics gathered: is an observation missing?", n)
	}
}
