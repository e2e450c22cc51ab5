package metrics_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/metrics"
)

type fakeEventLog struct{}

func (fakeEventLog) Dropped() uint64  { return 3 }
func (fakeEventLog) Subscribers() int { return 2 }

func features() []usher.FeatureStatus {
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	return []usher.FeatureStatus{
		{Name: "cad", Seats: 5, InUse: 2, Queued: 1, State: usher.FeatureActive, ExpiresAt: &exp},
		{Name: "viewer", Unlimited: true, InUse: 7, State: usher.FeatureActive},
		{Name: "render", State: usher.FeatureActive, Consumption: &usher.ConsumptionStatus{Limit: 100, Used: 42, Remaining: 58, Period: usher.PeriodMonth}},
	}
}

func checkpoints() []usher.Checkpoint {
	return []usher.Checkpoint{{LicenseID: "lic_1", TechnicalExpiry: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}}
}

// scrape returns the metrics text.
func scrape(tb testing.TB, m *metrics.Metrics) string {
	tb.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		tb.Fatalf("scrape: status %d", rec.Code)
	}
	return rec.Body.String()
}

func TestMetrics(t *testing.T) {
	m := metrics.New(metrics.Options{Features: features, Checkpoints: checkpoints, EventLog: fakeEventLog{}, Version: "1.2.3"})
	m.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad"})
	m.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad"})
	m.Observe(usher.Event{Type: usher.EventCheckoutDenied, Feature: "cad", Reason: usher.ENoSeats})
	m.Observe(usher.Event{Type: usher.EventLeaseExpired, Feature: "cad"})
	m.Observe(usher.Event{Type: usher.EventLeaseKicked, Feature: "cad"})
	m.Observe(usher.Event{Type: usher.EventLicenseAdded})

	text := scrape(t, m)
	for _, want := range []string{
		`usher_feature_seats{feature="cad"} 5`,
		`usher_feature_seats{feature="viewer"} 0`,
		`usher_feature_unlimited{feature="viewer"} 1`,
		`usher_feature_seats_in_use{feature="cad"} 2`,
		`usher_feature_queue_length{feature="cad"} 1`,
		`usher_feature_expiry_timestamp_seconds{feature="cad"} 1.7987616e+09`,
		`usher_leases 9`,
		`usher_feature_consumption_used{feature="render"} 42`,
		`usher_feature_consumption_limit{feature="render"} 100`,
		`usher_license_technical_expiry_timestamp_seconds{license="lic_1"} 1.7987616e+09`,
		`usher_checkouts_total{feature="cad"} 2`,
		`usher_checkout_denials_total{feature="cad",reason="no_seats_available"} 1`,
		`usher_leases_ended_total{feature="cad",how="expired"} 1`,
		`usher_leases_ended_total{feature="cad",how="kicked"} 1`,
		`usher_events_dropped_total 3`,
		`usher_event_subscribers 2`,
		`usher_build_info{goversion="`,
		`version="1.2.3"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(text, `usher_feature_expiry_timestamp_seconds{feature="viewer"}`) {
		t.Error("a feature that never expires has an expiry")
	}
}

func TestInstrumentHandler(t *testing.T) {
	m := metrics.New(metrics.Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	h := m.InstrumentHandler(mux)
	for _, path := range []string{"/v1/things/a", "/v1/things/b", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	text := scrape(t, m)
	for _, want := range []string{
		`usher_http_request_duration_seconds_count{code="418",route="GET /v1/things/{id}"} 2`,
		`usher_http_request_duration_seconds_count{code="404",route="other"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// nopStore is a store that keeps nothing.
type nopStore struct{}

func (nopStore) Load(context.Context) (*usher.Snapshot, error)                { return &usher.Snapshot{}, nil }
func (nopStore) PutLicense(context.Context, usher.LicenseRecord) error        { return nil }
func (nopStore) DeleteLicense(context.Context, string) error                  { return nil }
func (nopStore) PutLease(context.Context, usher.Lease) error                  { return nil }
func (nopStore) DeleteLeases(context.Context, []string) error                 { return nil }
func (nopStore) PutBan(context.Context, usher.Ban) error                      { return nil }
func (nopStore) DeleteBans(context.Context, []string) error                   { return nil }
func (nopStore) PutReleased(context.Context, usher.ReleasedLicense) error     { return nil }
func (nopStore) PutSecretBinding(context.Context, usher.SecretBinding) error  { return nil }
func (nopStore) DeleteSecretBinding(context.Context, string) error            { return nil }
func (nopStore) PutRegistrations(context.Context, []usher.Registration) error { return nil }
func (nopStore) DeleteRegistrations(context.Context, []string) error          { return nil }
func (nopStore) PutConsumption(context.Context, usher.Consumption) error      { return nil }
func (nopStore) DeleteConsumptions(context.Context, []string) error           { return nil }
func (nopStore) PutLicenseState(context.Context, usher.LicenseState) error {
	return nil
}

func TestInstrumentStore(t *testing.T) {
	m := metrics.New(metrics.Options{})
	s := m.InstrumentStore(nopStore{})
	ctx := context.Background()
	_ = s.PutLease(ctx, usher.Lease{})
	_ = s.PutLease(ctx, usher.Lease{})
	_ = s.DeleteLeases(ctx, nil)
	_ = s.PutLicense(ctx, usher.LicenseRecord{})
	_ = s.DeleteLicense(ctx, "x")
	text := scrape(t, m)
	for _, want := range []string{
		`usher_store_commit_duration_seconds_count{op="put_lease"} 2`,
		`usher_store_commit_duration_seconds_count{op="delete_leases"} 1`,
		`usher_store_commit_duration_seconds_count{op="put_license"} 1`,
		`usher_store_commit_duration_seconds_count{op="delete_license"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestPromtoolCheckMetrics runs "promtool check metrics" on every metric
// Usher exports. It skips when promtool is not on PATH, unless
// USHER_REQUIRE_PROMTOOL=1 says it must run.
func TestPromtoolCheckMetrics(t *testing.T) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("USHER_REQUIRE_PROMTOOL") == "1" {
			t.Fatal("promtool is not on PATH and USHER_REQUIRE_PROMTOOL=1: install it (Debian: apt-get install prometheus)")
		}
		t.Skip("promtool not on PATH; set USHER_REQUIRE_PROMTOOL=1 to make this a failure")
	}
	m := metrics.New(metrics.Options{Features: features, Checkpoints: checkpoints, EventLog: fakeEventLog{}, Version: "1.2.3"})
	for _, typ := range []string{usher.EventLeaseGranted, usher.EventCheckoutDenied, usher.EventLeaseReleased, usher.EventLeaseExpired, usher.EventLeaseKicked} {
		m.Observe(usher.Event{Type: typ, Feature: "cad", Reason: usher.ENoSeats})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(http.ResponseWriter, *http.Request) {})
	m.InstrumentHandler(mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	_ = m.InstrumentStore(nopStore{}).PutLease(context.Background(), usher.Lease{})
	text := scrape(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		t.Errorf("promtool check metrics reported problems:\n%s", s)
	}
}

// TestPolicyMetrics: a policy's denial counts under its code, whatever
// rule it names, and a grant in overdraft is counted apart.
func TestPolicyMetrics(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.Observe(usher.Event{Type: usher.EventCheckoutDenied, Feature: "cad", Reason: `policy_denied: feature.cad.max["user:*"]=1: user alice holds 1`})
	m.Observe(usher.Event{Type: usher.EventCheckoutDenied, Feature: "cad", Reason: `policy_denied: feature.cad.exclude["host:g*"]: user bob on host g1 is excluded`})
	m.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad"})
	m.Observe(usher.Event{Type: usher.EventLeaseGranted, Feature: "cad", Reason: "overdraft: 6 of 5 licensed seats in use"})
	text := scrape(t, m)
	for _, want := range []string{
		`usher_checkout_denials_total{feature="cad",reason="policy_denied"} 2`,
		`usher_checkouts_total{feature="cad"} 2`,
		`usher_overdraft_checkouts_total{feature="cad"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
}
