package cache

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics exports the cache's counters. Request counts are read from the
// same atomics /cache/stats uses, at scrape time, so the hot path pays for
// one atomic add and nothing else.
type metrics struct {
	c           *Cache
	requests    *prometheus.Desc
	nearHits    *prometheus.Desc
	collapsed   *prometheus.Desc
	loads       *prometheus.Desc
	nearEntries *prometheus.Desc
	breaker     *prometheus.Desc
	pending     *prometheus.Desc
	loadSeconds *prometheus.HistogramVec
	invSent     prometheus.Counter
	invReceived prometheus.Counter
}

func newMetrics(c *Cache) *metrics {
	return &metrics{
		c: c,
		requests: prometheus.NewDesc("redlane_cache_requests_total",
			"Cache reads by namespace and result: hit (fresh, near or Redis), stale (served while refreshing), miss (loaded from the database), error (Redis failed or skipped; served from the database).",
			[]string{"cache_namespace", "result"}, nil),
		nearHits: prometheus.NewDesc("redlane_cache_near_hits_total", "Hits served from the in-process near cache (included in result=hit).", []string{"cache_namespace"}, nil),
		collapsed: prometheus.NewDesc("redlane_cache_collapsed_total",
			"Misses that waited for another caller's load of the same key (singleflight or Redis lease) instead of loading.", []string{"cache_namespace"}, nil),
		loads:       prometheus.NewDesc("redlane_cache_loads_total", "Database loads by namespace and result (ok, error).", []string{"cache_namespace", "result"}, nil),
		nearEntries: prometheus.NewDesc("redlane_cache_near_entries", "Entries in the near cache.", nil, nil),
		breaker: prometheus.NewDesc("redlane_cache_redis_breaker_state",
			"Circuit breaker in front of Redis: 0 closed (caching), 1 half-open (probing), 2 open (serving from the database).", nil, nil),
		pending: prometheus.NewDesc("redlane_cache_pending_invalidations", "Invalidations waiting for Redis to come back; those keys bypass the cache.", nil, nil),
		loadSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "redlane_cache_load_duration_seconds",
			Help:    "Time to load records from the database on a cache miss or refresh.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"cache_namespace"}),
		invSent:     prometheus.NewCounter(prometheus.CounterOpts{Name: "redlane_cache_invalidations_sent_total", Help: "Keys invalidated by this pod (deleted in Redis and announced to all pods)."}),
		invReceived: prometheus.NewCounter(prometheus.CounterOpts{Name: "redlane_cache_invalidations_received_total", Help: "Keys announced by any pod and dropped from this pod's near cache."}),
	}
}

func (m *metrics) observeLoad(ns string, d time.Duration) {
	m.loadSeconds.WithLabelValues(ns).Observe(d.Seconds())
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.requests, m.nearHits, m.collapsed, m.loads, m.nearEntries, m.breaker, m.pending} {
		ch <- d
	}
	m.loadSeconds.Describe(ch)
	m.invSent.Describe(ch)
	m.invReceived.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for ns, v := range m.c.stats.all() {
		for result, n := range map[string]int64{"hit": v[cHits], "stale": v[cStale], "miss": v[cMisses], "error": v[cErrors]} {
			ch <- prometheus.MustNewConstMetric(m.requests, prometheus.CounterValue, float64(n), ns, result)
		}
		ch <- prometheus.MustNewConstMetric(m.nearHits, prometheus.CounterValue, float64(v[cNearHits]), ns)
		ch <- prometheus.MustNewConstMetric(m.collapsed, prometheus.CounterValue, float64(v[cCollapsed]), ns)
		ch <- prometheus.MustNewConstMetric(m.loads, prometheus.CounterValue, float64(v[cLoads]-v[cLoadErrors]), ns, "ok")
		ch <- prometheus.MustNewConstMetric(m.loads, prometheus.CounterValue, float64(v[cLoadErrors]), ns, "error")
	}
	ch <- prometheus.MustNewConstMetric(m.nearEntries, prometheus.GaugeValue, float64(m.c.near.len()))
	ch <- prometheus.MustNewConstMetric(m.breaker, prometheus.GaugeValue, float64(m.c.brk.state()))
	ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, float64(m.c.pending.n.Load()))
	m.loadSeconds.Collect(ch)
	m.invSent.Collect(ch)
	m.invReceived.Collect(ch)
}
