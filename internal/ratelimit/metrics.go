package ratelimit

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	decisions   *prometheus.CounterVec
	duration    prometheus.Histogram
	breakerOpen prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_ratelimit_decisions_total",
			Help: "Rate-limit decisions by policy and result: allowed, limited, failed_open (Redis unavailable, let through) or failed_closed (Redis unavailable, refused with 503).",
		}, []string{"policy", "result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "redlane_ratelimit_decision_duration_seconds",
			Help:    "Time to decide one request, Redis round trip included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}),
		breakerOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "redlane_ratelimit_breaker_open",
			Help: "1 while the circuit breaker in front of Redis is open (decisions fail at once per policy failOpen), else 0.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.duration, m.breakerOpen)
	}
	return m
}
