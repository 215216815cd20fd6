package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/units"

// cacheNamespace is the label naming a cache namespace (e.g. "users") on the
// redlane_cache_* series. It must not be "namespace": in Kubernetes that is
// the pod's namespace, and Prometheus would rename the cache's label to
// exported_namespace.
const cacheNamespace = "cache_namespace"

// cacheSection: Redlane's own cache counters (redlane_cache_*): every read
// counted once as hit, stale, miss or error. Redis' keyspace hits (Redis
// dashboard) count every GET of every feature and are no cache hit rate.
func cacheSection() section {
	const reads = "redlane_cache_requests_total"
	const hits = `result=~"hit|stale"`
	return section{title: "Cache", panels: panels(
		single("Cache hit rate", units.PercentUnit,
			"Reads answered from the cache (fresh or stale) over all reads. Low means TTLs too short, keys evicted "+
				"(Redis memory full) or traffic on keys never read twice; every miss costs a database query.",
			q(ratio("", reads, hits), "hit rate")).
			Thresholds(steps("red", 0.5, "orange", 0.8, "green")),
		single("Redis breaker", units.NoUnit,
			"The cache's circuit breaker in front of Redis on each instance. OPEN: Redis failed repeatedly and reads go "+
				"straight to the database (expect database load and latency to rise).",
			q("max by (instance) ("+sel("redlane_cache_redis_breaker_state")+")", "{{instance}}")).
			Mappings(states("0", "closed", "green", "1", "half-open", "orange", "2", "OPEN", "red")),
		single("Pending invalidations", units.Short,
			"Invalidations that could not reach Redis yet; their keys bypass the cache until Redis is back. Above 0 for "+
				"long means Redis is unreachable from some instances.",
			q("sum("+sel("redlane_cache_pending_invalidations")+")", "pending")).
			Thresholds(steps("green", 1.0, "orange")),
		single("Near-cache entries", units.Short,
			"Entries held in the instances' in-process near cache (a small, short-lived copy of hot keys).",
			q("sum("+sel("redlane_cache_near_entries")+")", "entries")),
		graph("Hit rate by cache namespace", units.PercentUnit,
			"Hit rate per cache namespace (e.g. users). One namespace dropping alone: its TTL, its invalidations, or "+
				"a client reading keys that do not exist (negative caching absorbs those).",
			q(ratio(cacheNamespace, reads, hits), "{{"+cacheNamespace+"}}")).
			Min(0).Max(1),
		graph("Cache reads per second by result", units.ReadsPerSecond,
			"hit: served from Redis or the near cache; stale: served past its freshness while one caller refreshes; "+
				"miss: loaded from the database; error: Redis failed and the database answered.",
			q(sumRate("result", reads), "{{result}}")),
		graph("Stale serves per second by cache namespace", units.ReadsPerSecond,
			"Reads served stale while a refresh runs (stale-while-revalidate). A high share means refreshes are slow "+
				"or failing: see the database loads.",
			q(sumRate(cacheNamespace, reads, `result="stale"`), "{{"+cacheNamespace+"}}")),
		graph("Database loads per second", units.OpsPerSecond,
			"Loads from the database by result, and misses that waited for another caller's load of the same key "+
				"(stampede protection). Load errors mean the database fails: users see 5xx on cache misses.",
			q(sumRate("result", "redlane_cache_loads_total"), "load {{result}}"),
			q(sumRate("", "redlane_cache_collapsed_total"), "collapsed (waited for another load)")),
		graph("Database load latency", units.Seconds,
			"p50 and p99 time to load records from the database on a miss or refresh, per cache namespace.",
			p50p99(cacheNamespace, "redlane_cache_load_duration_seconds")...),
		graph("Invalidations per second", units.CountsPerSecond,
			"Keys invalidated by writes on the selected instances (sent) and dropped from their near caches on any "+
				"instance's announcement (received). Received far below sent times the pod count: announcements are lost.",
			q(sumRate("", "redlane_cache_invalidations_sent_total"), "sent"),
			q(sumRate("", "redlane_cache_invalidations_received_total"), "received")),
	)}
}
