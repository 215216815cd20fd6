package redisx

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// NodeInfo is the parsed INFO of one Redis node.
type NodeInfo struct {
	Node   string
	Fields map[string]string
	Err    error
}

// Float returns a numeric INFO field.
func (n NodeInfo) Float(name string) (float64, bool) {
	v, ok := n.Fields[name]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil
}

// InfoCache fetches INFO from every node at most once per TTL, however many
// scrapes and /cache/stats calls ask, so metrics never pile INFO onto Redis.
type InfoCache struct {
	client *Client
	memo   *Memo[[]NodeInfo]
}

// NewInfoCache returns an INFO cache for c.
func NewInfoCache(c *Client, ttl time.Duration) *InfoCache {
	ic := &InfoCache{client: c}
	ic.memo = NewMemo(ttl, 2*time.Second, ic.fetch)
	return ic
}

// Nodes returns the INFO of every node, fresh within the TTL.
func (ic *InfoCache) Nodes(ctx context.Context) []NodeInfo { return ic.memo.Get(ctx) }

func (ic *InfoCache) fetch(ctx context.Context) []NodeInfo {
	one := func(ctx context.Context, c *redis.Client) NodeInfo {
		n := NodeInfo{Node: c.Options().Addr}
		if ic.client.Embedded() {
			n.Node = "embedded"
		}
		s, err := c.Info(ctx, "server", "clients", "memory", "stats", "replication", "keyspace").Result()
		if err != nil {
			// miniredis knows only some sections; ask again for all it has.
			if s, err = c.Info(ctx).Result(); err != nil {
				n.Err = err
				return n
			}
		}
		n.Fields = ParseInfo(s)
		return n
	}
	switch c := ic.client.UniversalClient.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex
		var out []NodeInfo
		err := c.ForEachShard(ctx, func(ctx context.Context, nc *redis.Client) error {
			n := one(ctx, nc)
			mu.Lock()
			out = append(out, n)
			mu.Unlock()
			return nil
		})
		if err != nil && len(out) == 0 {
			return []NodeInfo{{Node: ic.client.Addr(), Err: err}}
		}
		return out
	case *redis.Client:
		return []NodeInfo{one(ctx, c)}
	}
	return nil
}

// ParseInfo turns INFO text into fields; keyspace lines ("db0:keys=3,expires=1")
// become "db0.keys" and "db0.expires".
func ParseInfo(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if strings.HasPrefix(k, "db") && strings.Contains(v, "keys=") {
			for _, kv := range strings.Split(v, ",") {
				if a, b, ok := strings.Cut(kv, "="); ok {
					out[k+"."+a] = b
				}
			}
			continue
		}
		out[k] = v
	}
	return out
}

// infoMetric maps an INFO field to a metric.
type infoMetric struct {
	field string
	desc  *prometheus.Desc
	kind  prometheus.ValueType
}

// InfoCollector exposes Redis INFO as Prometheus metrics with a node label.
type InfoCollector struct {
	cache   *InfoCache
	metrics []infoMetric
	up      *prometheus.Desc
	info    *prometheus.Desc
	dbKeys  *prometheus.Desc
	dbExp   *prometheus.Desc
}

// NewInfoCollector describes the INFO fields Redlane exports.
func NewInfoCollector(cache *InfoCache) *InfoCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("redlane_redis_"+name, help, []string{"node"}, nil)
	}
	return &InfoCollector{
		cache: cache,
		metrics: []infoMetric{
			{"used_memory", d("memory_used_bytes", "Memory used by Redis (INFO used_memory)."), prometheus.GaugeValue},
			{"maxmemory", d("memory_max_bytes", "Configured maxmemory; 0 means no limit."), prometheus.GaugeValue},
			{"mem_fragmentation_ratio", d("memory_fragmentation_ratio", "RSS divided by used memory; above 1.5 means fragmentation."), prometheus.GaugeValue},
			{"evicted_keys", d("evicted_keys_total", "Keys evicted because of maxmemory."), prometheus.CounterValue},
			{"expired_keys", d("expired_keys_total", "Keys removed because their TTL passed."), prometheus.CounterValue},
			{"keyspace_hits", d("keyspace_hits_total", "Successful key lookups."), prometheus.CounterValue},
			{"keyspace_misses", d("keyspace_misses_total", "Failed key lookups."), prometheus.CounterValue},
			{"connected_clients", d("connected_clients", "Client connections."), prometheus.GaugeValue},
			{"blocked_clients", d("blocked_clients", "Clients blocked in a blocking command."), prometheus.GaugeValue},
			{"total_commands_processed", d("commands_processed_total", "Commands processed by the server."), prometheus.CounterValue},
			{"instantaneous_ops_per_sec", d("ops_per_second", "Commands per second as sampled by Redis."), prometheus.GaugeValue},
			{"uptime_in_seconds", d("uptime_seconds", "Seconds since the server started."), prometheus.GaugeValue},
		},
		up:     d("up", "Whether the node answered INFO at the last refresh."),
		info:   prometheus.NewDesc("redlane_redis_instance_info", "Role and version of each node (value is always 1).", []string{"node", "role", "version", "mode"}, nil),
		dbKeys: prometheus.NewDesc("redlane_redis_db_keys", "Keys per database.", []string{"node", "db"}, nil),
		dbExp:  prometheus.NewDesc("redlane_redis_db_keys_expiring", "Keys with a TTL per database.", []string{"node", "db"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *InfoCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
	ch <- c.up
	ch <- c.info
	ch <- c.dbKeys
	ch <- c.dbExp
}

// Collect implements prometheus.Collector from the cached INFO.
func (c *InfoCollector) Collect(ch chan<- prometheus.Metric) {
	for _, n := range c.cache.Nodes(context.Background()) {
		if n.Err != nil {
			ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0, n.Node)
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1, n.Node)
		for _, m := range c.metrics {
			if v, ok := n.Float(m.field); ok {
				ch <- prometheus.MustNewConstMetric(m.desc, m.kind, v, n.Node)
			}
		}
		role, version := n.Fields["role"], n.Fields["redis_version"]
		if c.cache.client.Embedded() {
			role, version = "master", "embedded"
		}
		ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, n.Node, role, version, string(c.cache.client.Mode))
		for k, v := range n.Fields {
			db, field, ok := strings.Cut(k, ".")
			if !ok || !strings.HasPrefix(db, "db") {
				continue
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			switch field {
			case "keys":
				ch <- prometheus.MustNewConstMetric(c.dbKeys, prometheus.GaugeValue, f, n.Node, db)
			case "expires":
				ch <- prometheus.MustNewConstMetric(c.dbExp, prometheus.GaugeValue, f, n.Node, db)
			}
		}
	}
}

// RegisterMetrics registers INFO and connection-pool metrics for c.
func (c *Client) RegisterMetrics(reg prometheus.Registerer, cache *InfoCache) {
	reg.MustRegister(NewInfoCollector(cache))
	stat := func(f func(*redis.PoolStats) float64) func() float64 {
		return func() float64 {
			s := c.PoolStats()
			if s == nil {
				return 0
			}
			return f(s)
		}
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "redlane_redis_pool_hits_total", Help: "Times a free connection was found in the pool."},
			stat(func(s *redis.PoolStats) float64 { return float64(s.Hits) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "redlane_redis_pool_misses_total", Help: "Times no free connection was in the pool and one was opened."},
			stat(func(s *redis.PoolStats) float64 { return float64(s.Misses) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "redlane_redis_pool_timeouts_total", Help: "Times a command gave up waiting for a connection (raise spec.redis.poolSize)."},
			stat(func(s *redis.PoolStats) float64 { return float64(s.Timeouts) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "redlane_redis_pool_connections", Help: "Open connections in the pool."},
			stat(func(s *redis.PoolStats) float64 { return float64(s.TotalConns) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "redlane_redis_pool_idle_connections", Help: "Idle connections in the pool."},
			stat(func(s *redis.PoolStats) float64 { return float64(s.IdleConns) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "redlane_redis_pool_stale_connections_total", Help: "Connections closed because they were stale."},
			stat(func(s *redis.PoolStats) float64 { return float64(s.StaleConns) })),
	)
}
