package tracking

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics exports the tracker's state. Local hits are counted by each
// consumer on its own hot path (one atomic add) and read at scrape time.
type metrics struct {
	t             *Tracker
	state         *prometheus.Desc
	conns         *prometheus.Desc
	hits          *prometheus.Desc
	invalidations prometheus.Counter
	flushes       *prometheus.CounterVec

	mu       sync.Mutex
	hitFuncs map[string]func() uint64
}

func newMetrics(t *Tracker) *metrics {
	m := &metrics{
		t: t,
		state: prometheus.NewDesc("redlane_tracking_state",
			"Client-side caching: 1 live (local copies served, every master's invalidation connection confirmed), 0 down (copies flushed and bypassed until it is back), -1 the server refused CLIENT TRACKING (consumers fall back).", nil, nil),
		conns: prometheus.NewDesc("redlane_tracking_connections", "Invalidation connections confirmed (one per master when live).", nil, nil),
		hits: prometheus.NewDesc("redlane_tracking_local_hits_total",
			"Reads served from a local copy kept coherent by tracking, without a Redis round trip, by consumer (cache, session).", []string{"consumer"}, nil),
		invalidations: prometheus.NewCounter(prometheus.CounterOpts{Name: "redlane_tracking_invalidations_total",
			Help: "Keys Redis reported changed (any pod's write, an expiry or an eviction) on the invalidation connections."}),
		flushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "redlane_tracking_flushes_total",
			Help: "Whole local copies dropped, by reason: connect (a generation of connections became live), disconnect (a connection failed or stopped answering), topology (the Cluster's masters changed), server (FLUSHALL/FLUSHDB)."},
			[]string{"reason"}),
		hitFuncs: map[string]func() uint64{},
	}
	for _, r := range []string{"connect", "disconnect", "topology", "server"} {
		m.flushes.WithLabelValues(r)
	}
	return m
}

// CountHits exports a consumer's local-hit counter as
// redlane_tracking_local_hits_total{consumer=name}.
func (t *Tracker) CountHits(name string, hits func() uint64) {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	t.m.hitFuncs[name] = hits
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.state
	ch <- m.conns
	ch <- m.hits
	m.invalidations.Describe(ch)
	m.flushes.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	state := 0.0
	switch {
	case !m.t.Supported():
		state = -1
	case m.t.Live():
		state = 1
	}
	ch <- prometheus.MustNewConstMetric(m.state, prometheus.GaugeValue, state)
	ch <- prometheus.MustNewConstMetric(m.conns, prometheus.GaugeValue, float64(m.t.conns.Load()))
	m.mu.Lock()
	for name, f := range m.hitFuncs {
		ch <- prometheus.MustNewConstMetric(m.hits, prometheus.CounterValue, float64(f()), name)
	}
	m.mu.Unlock()
	m.invalidations.Collect(ch)
	m.flushes.Collect(ch)
}
