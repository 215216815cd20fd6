package httpapi

import (
	"context"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics are the request metrics, labelled by route template (never by
// raw path, which would explode cardinality).
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	cache    sync.Map // childKey -> *childMetrics
}

type childKey struct {
	route, method string
	code          int
}

type childMetrics struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// children returns the metric children of one route, method and code,
// resolved once (label hashing and string conversion stay off the hot path).
func (m *httpMetrics) children(route, method string, code int) *childMetrics {
	k := childKey{route, method, code}
	if c, ok := m.cache.Load(k); ok {
		return c.(*childMetrics)
	}
	c := &childMetrics{
		requests: m.requests.WithLabelValues(route, method, strconv.Itoa(code)),
		duration: m.duration.WithLabelValues(route, method),
	}
	v, _ := m.cache.LoadOrStore(k, c)
	return v.(*childMetrics)
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_http_requests_total",
			Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "redlane_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests by route template and method (WebSocket upgrades excluded).",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "redlane_http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight)
	return m
}

// readinessCollector exports readiness as /readyz would answer it now:
// redlane_ready (0 while any check fails or the server drains) and one
// redlane_ready_check_ok per check. The checks run at scrape time (each
// bounded by the probe timeout), so the value is fresh even where nothing
// polls /readyz, and alerts can see a pod that is up but not ready.
type readinessCollector struct {
	p       *Probes
	ready   *prometheus.Desc
	checkOK *prometheus.Desc
}

// RegisterMetrics registers redlane_ready and redlane_ready_check_ok.
func (p *Probes) RegisterMetrics(reg prometheus.Registerer) {
	reg.MustRegister(&readinessCollector{
		p: p,
		ready: prometheus.NewDesc("redlane_ready",
			"Whether this instance is ready (1) or not (0): every readiness check passes and it is not draining, as GET /readyz answers.", nil, nil),
		checkOK: prometheus.NewDesc("redlane_ready_check_ok",
			"Whether each readiness check (redis, database, realtime) passes (1) or fails (0).", []string{"check"}, nil),
	})
}

// Describe implements prometheus.Collector.
func (c *readinessCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ready
	ch <- c.checkOK
}

// Collect implements prometheus.Collector.
func (c *readinessCollector) Collect(ch chan<- prometheus.Metric) {
	ok, checks := c.p.Ready(context.Background())
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, b2f(ok))
	for name, res := range checks {
		ch <- prometheus.MustNewConstMetric(c.checkOK, prometheus.GaugeValue, b2f(res == "ok"), name)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
