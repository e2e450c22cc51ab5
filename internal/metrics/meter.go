package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	usher "github.com/usher-lm/usher"
)

var (
	descUnitsUsed = prometheus.NewDesc("usher_feature_consumption_used",
		"Units of a metered feature spent in its current period.", []string{"feature"}, nil)
	descUnitsLimit = prometheus.NewDesc("usher_feature_consumption_limit",
		"Units a metered feature's active licenses grant per period, overage not included.", []string{"feature"}, nil)
	descTechnicalExpiry = prometheus.NewDesc("usher_license_technical_expiry_timestamp_seconds",
		"When a checkpoint license's features stop unless it is renewed, as a Unix time.", []string{"license"}, nil)
)

func collectConsumption(ch chan<- prometheus.Metric, f usher.FeatureStatus) {
	if c := f.Consumption; c != nil {
		ch <- prometheus.MustNewConstMetric(descUnitsUsed, prometheus.GaugeValue, float64(c.Used), f.Name)
		ch <- prometheus.MustNewConstMetric(descUnitsLimit, prometheus.GaugeValue, float64(c.Limit), f.Name)
	}
}

// checkpointCollector reads the technical expiry of checkpoint licenses
// at scrape time.
type checkpointCollector struct {
	checkpoints func() []usher.Checkpoint
}

func (c *checkpointCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descTechnicalExpiry }

func (c *checkpointCollector) Collect(ch chan<- prometheus.Metric) {
	for _, cp := range c.checkpoints() {
		ch <- prometheus.MustNewConstMetric(descTechnicalExpiry, prometheus.GaugeValue, float64(cp.TechnicalExpiry.Unix()), cp.LicenseID)
	}
}
