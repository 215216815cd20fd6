package queue

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics have no queue label, but one: queue names come from callers, and
// a label per name would grow without bound. GET /queues/{name} has
// per-queue counts. The one, claims per queue (how priorities share out
// the work), labels the first maxReportedQueues names this process
// claimed from and counts the rest as "other".
type metrics struct {
	enqueued, claimed, acked, redelivered, dead prometheus.Counter
	nacked, byQueue                             *prometheus.CounterVec

	mu     sync.Mutex
	labels map[string]bool
}

// claimedFrom counts n deliveries from queue.
func (m *metrics) claimedFrom(queue string, n int) {
	if n == 0 {
		return
	}
	m.mu.Lock()
	if !m.labels[queue] {
		if len(m.labels) >= maxReportedQueues {
			queue = "other"
		} else {
			m.labels[queue] = true
		}
	}
	m.mu.Unlock()
	m.byQueue.WithLabelValues(queue).Add(float64(n))
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "redlane_queue_" + name + "_total", Help: help})
	}
	m := &metrics{
		labels: map[string]bool{},
		byQueue: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_queue_tasks_claimed_by_queue_total",
			Help: "Deliveries by queue: how claims across queues share out the work. The first 100 queue names a process claims from; the rest count as \"other\".",
		}, []string{"queue"}),
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
		reg.MustRegister(m.enqueued, m.claimed, m.acked, m.redelivered, m.dead, m.nacked, m.byQueue)
	}
	return m
}
