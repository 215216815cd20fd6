package httpapi

import (
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
