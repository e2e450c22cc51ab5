// Package metrics exposes Usher's Prometheus metrics. Gauges are read from
// the ledger at scrape time; counters are fed by the ledger's events; HTTP
// and store latencies are measured by wrapping the handler and the store.
// Everything lives in the Metrics' own registry: nothing is global.
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	usher "github.com/usher-lm/usher"
)

// EventLog is what the metrics read from the event log.
type EventLog interface {
	Dropped() uint64
	Subscribers() int
}

// Options configure Metrics. All fields are optional.
type Options struct {
	Features func() []usher.FeatureStatus // usually Ledger.Features
	// Checkpoints, if set, gives the technical expiry of each checkpoint
	// license; usually Ledger.Checkpoints.
	Checkpoints func() []usher.Checkpoint
	EventLog    EventLog
	Version     string
}

// Metrics is a registry with Usher's metrics. It is a usher.Observer.
type Metrics struct {
	reg       *prometheus.Registry
	checkouts *prometheus.CounterVec
	denials   *prometheus.CounterVec
	overdraft *prometheus.CounterVec
	ended     *prometheus.CounterVec
	requests  *prometheus.HistogramVec
	commits   *prometheus.HistogramVec

	// observers caches requests' children by route and status, so that a
	// request does not hash its labels again.
	observers sync.Map // routeStatus -> prometheus.Observer
}

type routeStatus struct {
	route  string
	status int
}

// New returns Metrics with every collector registered.
func New(opts Options) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		checkouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usher_checkouts_total", Help: "Leases granted, by feature.",
		}, []string{"feature"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usher_checkout_denials_total", Help: "Checkouts refused, by feature and reason (the error code).",
		}, []string{"feature", "reason"}),
		overdraft: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usher_overdraft_checkouts_total", Help: "Leases granted beyond the licensed seats, as a policy's overdraft allows, by feature.",
		}, []string{"feature"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usher_leases_ended_total", Help: "Leases ended, by feature and how: released, expired or kicked.",
		}, []string{"feature", "how"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "usher_http_request_duration_seconds", Help: "Time to answer an API request, by route and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route", "code"}),
		commits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "usher_store_commit_duration_seconds", Help: "Time until a store change is durable, by operation.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"op"}),
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "usher_build_info", Help: "Always 1; the labels say which build of Usher is running.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	build.Set(1)
	m.reg.MustRegister(m.checkouts, m.denials, m.overdraft, m.ended, m.requests, m.commits, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if opts.Features != nil {
		m.reg.MustRegister(&ledgerCollector{features: opts.Features})
	}
	if opts.Checkpoints != nil {
		m.reg.MustRegister(&checkpointCollector{checkpoints: opts.Checkpoints})
	}
	if opts.EventLog != nil {
		m.registerEventLog(opts.EventLog)
	}
	return m
}

func (m *Metrics) registerEventLog(el EventLog) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "usher_events_dropped_total", Help: "Events lost because the event log's queue was full, in events or bytes, while its store failed or lagged.",
		}, func() float64 { return float64(el.Dropped()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "usher_event_subscribers", Help: "Live event stream subscribers.",
		}, func() float64 { return float64(el.Subscribers()) }),
	)
}

// Registry returns the registry, to add collectors or gather in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Observe implements usher.Observer: it counts checkouts, denials and
// ended leases. It never blocks.
func (m *Metrics) Observe(ev usher.Event) {
	switch ev.Type {
	case usher.EventLeaseGranted:
		m.checkouts.WithLabelValues(ev.Feature).Inc()
		if ev.Reason != "" { // overdraft: see usher.Ledger.SetPolicy
			m.overdraft.WithLabelValues(ev.Feature).Inc()
		}
	case usher.EventCheckoutDenied:
		code, _, _ := strings.Cut(ev.Reason, ":") // a policy denial names its rule after the code
		m.denials.WithLabelValues(ev.Feature, code).Inc()
	case usher.EventLeaseReleased:
		m.ended.WithLabelValues(ev.Feature, "released").Inc()
	case usher.EventLeaseExpired:
		m.ended.WithLabelValues(ev.Feature, "expired").Inc()
	case usher.EventLeaseKicked:
		m.ended.WithLabelValues(ev.Feature, "kicked").Inc()
	}
}

// InstrumentHandler measures every request by the route pattern that
// served it. h must set Request.Pattern, as http.ServeMux does.
func (m *Metrics) InstrumentHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "other"
		}
		m.requestObserver(route, sw.status).Observe(time.Since(start).Seconds())
	})
}

func (m *Metrics) requestObserver(route string, status int) prometheus.Observer {
	key := routeStatus{route, status}
	if o, ok := m.observers.Load(key); ok {
		return o.(prometheus.Observer)
	}
	o := m.requests.WithLabelValues(route, strconv.Itoa(status))
	m.observers.Store(key, o)
	return o
}

// statusWriter records the status code. Unwrap lets
// http.ResponseController reach Flush for event streams.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
