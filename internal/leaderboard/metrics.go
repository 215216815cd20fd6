package leaderboard

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	writes, reads *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_leaderboard_writes_total",
			Help: "Score writes by mode: set, incr or best.",
		}, []string{"mode"}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_leaderboard_reads_total",
			Help: "Board reads by kind: top (a page) or member (a rank with neighbours).",
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.writes, m.reads)
	}
	return m
}
