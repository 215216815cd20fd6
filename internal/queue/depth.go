package queue

import (
	"context"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redlane/redlane/internal/redisx"
)

// maxReportedQueues bounds the queue label of redlane_queue_tasks: queue
// names come from callers, so the metric reports at most this many (sorted
// by name); GET /queues/{name} answers for any queue.
const maxReportedQueues = 100

// The registry of queue names, for the depth metric:
//
//	<prefix>queue:names   SET of every queue name that has had a task enqueued.
//	                      One key, no TTL; SADDed once per name per process.
func (k keys) names() string { return k.rc.Key("queue", "names") }

// register records queue in the names set the first time this process
// enqueues to it.
func (b *Broker) register(ctx context.Context, queue string) {
	if _, seen := b.seen.LoadOrStore(queue, true); seen {
		return
	}
	if err := b.rc.SAdd(ctx, b.keys.names(), queue).Err(); err != nil {
		b.seen.Delete(queue) // try again on the next enqueue
	}
}

// depthCollector reports ready, in-flight, delayed and dead tasks per queue
// at scrape time, from Stats, reused for ttl so scrapes from several
// Prometheus servers cost Redis one pass.
type depthCollector struct {
	b     *Broker
	desc  *prometheus.Desc
	stats *redisx.Memo[[]Stats]
}

// RegisterDepth exposes redlane_queue_tasks{queue,state}.
func (b *Broker) RegisterDepth(reg prometheus.Registerer, ttl time.Duration) {
	c := &depthCollector{b: b, desc: prometheus.NewDesc("redlane_queue_tasks",
		"Tasks per queue by state: ready (claimable now), in_flight (claimed, not acked), delayed (waiting for a delay or retry backoff), dead (dead letters). At most 100 queues, by name.",
		[]string{"queue", "state"}, nil)}
	c.stats = redisx.NewMemo(ttl, 2*time.Second, c.read)
	reg.MustRegister(c)
}

func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats.Get(context.Background()) {
		for state, v := range map[string]int64{"ready": s.Ready, "in_flight": s.InFlight, "delayed": s.Delayed, "dead": s.Dead} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v), s.Queue, state)
		}
	}
}

// read takes the stats of the first maxReportedQueues queues by name.
func (c *depthCollector) read(ctx context.Context) []Stats {
	names, err := c.b.rc.SMembers(ctx, c.b.keys.names()).Result()
	if err != nil {
		return nil // Redis down: no series; redlane_redis_up says why
	}
	sort.Strings(names)
	if len(names) > maxReportedQueues {
		names = names[:maxReportedQueues]
	}
	out := make([]Stats, 0, len(names))
	for _, n := range names {
		if s, err := c.b.Stats(ctx, n); err == nil {
			out = append(out, s)
		}
	}
	return out
}
