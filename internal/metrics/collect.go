package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	usher "github.com/usher-lm/usher"
)

var (
	descSeats = prometheus.NewDesc("usher_feature_seats",
		"Seats the active licenses grant, by feature (0 when unlimited; see usher_feature_unlimited).", []string{"feature"}, nil)
	descUnlimited = prometheus.NewDesc("usher_feature_unlimited",
		"1 when a feature's seats are unlimited.", []string{"feature"}, nil)
	descInUse = prometheus.NewDesc("usher_feature_seats_in_use",
		"Seats held by live leases, by feature.", []string{"feature"}, nil)
	descQueue = prometheus.NewDesc("usher_feature_queue_length",
		"Checkouts waiting in line, by feature.", []string{"feature"}, nil)
	descExpiry = prometheus.NewDesc("usher_feature_expiry_timestamp_seconds",
		"When the last license of a feature expires, as a Unix time; absent when it never expires.", []string{"feature"}, nil)
	descBorrowed = prometheus.NewDesc("usher_feature_borrowed_leases",
		"Leases borrowed for offline use, by feature (their seats count in usher_feature_seats_in_use).", []string{"feature"}, nil)
	descLingering = prometheus.NewDesc("usher_feature_lingering_leases",
		"Released leases whose seat still lingers with its client, by feature.", []string{"feature"}, nil)
	descLeases = prometheus.NewDesc("usher_leases",
		"Live leases, all features together.", nil, nil)
)

// ledgerCollector reads seat gauges from the ledger at scrape time.
type ledgerCollector struct {
	features func() []usher.FeatureStatus
}

func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSeats, descUnlimited, descInUse, descQueue, descExpiry, descLeases, descUnitsUsed, descUnitsLimit, descBorrowed, descLingering} {
		ch <- d
	}
}

func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	leases := 0
	for _, f := range c.features() {
		leases += f.InUse
		unlimited := 0.0
		if f.Unlimited {
			unlimited = 1
		}
		ch <- prometheus.MustNewConstMetric(descSeats, prometheus.GaugeValue, float64(f.Seats), f.Name)
		ch <- prometheus.MustNewConstMetric(descUnlimited, prometheus.GaugeValue, unlimited, f.Name)
		ch <- prometheus.MustNewConstMetric(descInUse, prometheus.GaugeValue, float64(f.InUse), f.Name)
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(f.Queued), f.Name)
		ch <- prometheus.MustNewConstMetric(descBorrowed, prometheus.GaugeValue, float64(f.Borrowed), f.Name)
		ch <- prometheus.MustNewConstMetric(descLingering, prometheus.GaugeValue, float64(f.Lingering), f.Name)
		if f.ExpiresAt != nil {
			ch <- prometheus.MustNewConstMetric(descExpiry, prometheus.GaugeValue, float64(f.ExpiresAt.Unix()), f.Name)
		}
		collectConsumption(ch, f) // meter.go
	}
	ch <- prometheus.MustNewConstMetric(descLeases, prometheus.GaugeValue, float64(leases))
}

// InstrumentStore returns s with the latency of every change measured.
func (m *Metrics) InstrumentStore(s usher.Store) usher.Store { return &timedStore{Store: s, m: m} }

type timedStore struct {
	usher.Store
	m *Metrics
}

func (t *timedStore) observe(op string, start time.Time) {
	t.m.commits.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (t *timedStore) PutLicense(ctx context.Context, rec usher.LicenseRecord) error {
	defer t.observe("put_license", time.Now())
	return t.Store.PutLicense(ctx, rec)
}

func (t *timedStore) DeleteLicense(ctx context.Context, id string) error {
	defer t.observe("delete_license", time.Now())
	return t.Store.DeleteLicense(ctx, id)
}

func (t *timedStore) PutLease(ctx context.Context, l usher.Lease) error {
	defer t.observe("put_lease", time.Now())
	return t.Store.PutLease(ctx, l)
}

func (t *timedStore) DeleteLeases(ctx context.Context, ids []string) error {
	defer t.observe("delete_leases", time.Now())
	return t.Store.DeleteLeases(ctx, ids)
}
