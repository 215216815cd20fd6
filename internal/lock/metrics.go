package lock

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	acquire, extend, release *prometheus.CounterVec
	wait                     prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		acquire: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_lock_acquire_total",
			Help: "Lock acquisitions by result: acquired, timeout (held by another owner for the whole wait), canceled or error.",
		}, []string{"result"}),
		extend: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_lock_extend_total",
			Help: "Lease extensions by result: extended, not_held or error.",
		}, []string{"result"}),
		release: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_lock_release_total",
			Help: "Lease releases by result: released, not_held or error.",
		}, []string{"result"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "redlane_lock_acquire_wait_seconds",
			Help:    "Time from the first attempt to a successful acquisition.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.acquire, m.extend, m.release, m.wait)
	}
	return m
}
