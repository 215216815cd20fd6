package queue

import "github.com/prometheus/client_golang/prometheus"

// Metrics have no queue label: queue names come from callers, and a label
// per name would grow without bound. GET /queues/{name} has per-queue counts.
type metrics struct {
	enqueued, claimed, acked, redelivered, dead prometheus.Counter
	nacked                                      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "redlane_queue_" + name + "_total", Help: help})
	}
	m := &metrics{
		enqueued:    c("tasks_enqueued", "Tasks added (duplicates of a live unique key not counted)."),
		claimed:     c("tasks_claimed", "Deliveries of tasks to workers, redeliveries included."),
		acked:       c("tasks_acked", "Tasks completed by their worker."),
		redelivered: c("tasks_redelivered", "Deliveries of tasks whose previous worker let the visibility timeout pass (died or too slow)."),
		dead:        c("tasks_dead_lettered", "Tasks moved to the dead letters after their last attempt."),
		nacked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_queue_tasks_nacked_total",
			Help: "Tasks failed by their worker, by outcome: retry (after backoff) or dead.",
		}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.enqueued, m.claimed, m.acked, m.redelivered, m.dead, m.nacked)
	}
	return m
}
