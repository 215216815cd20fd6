package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// redis is the "Redis" dashboard: Redis INFO as every Redlane instance reads
// it (redlane_redis_*, label node = one Redis server; a Cluster has one per
// master). Every instance reports every node, so per-node values are taken
// with max (min for "up": one instance failing to reach a node counts), and
// the Redlane side of the connection (the pool) closes the dashboard.
func redis() (dashboard.Dashboard, error) {
	vars := append(standardVariables(),
		labelVariable("node", "Redis node",
			"Redis servers (host:port) as Redlane reaches them; one per master in a Cluster.",
			sel("redlane_redis_up"), true))
	return build(spec{
		uid:   "redlane-redis",
		title: "Redis",
		description: "Redis as Redlane sees it (INFO from every node, collected by Redlane): memory against maxmemory, " +
			"evictions, hit rate, clients, load and keys, per node; and Redlane's connection pool.",
		variables: vars,
		sections: []section{
			redisAvailability(),
			redisMemory(),
			redisLoad(),
			redisPool(),
		},
	})
}

// byNode is max by (node) of an INFO series of the selected nodes.
func byNode(metric string) string { return aggr("max", "node", nodeSel(metric)) }

// byNodeRate is max by (node) of the rate of an INFO counter.
func byNodeRate(metric string) string { return aggr("max", "node", rateOf(nodeSel(metric))) }

// memoryRatio is used/maxmemory per node, only where maxmemory is set: with
// maxmemory 0 (no limit) the division would be +Inf, so those nodes drop out.
var memoryRatio = byNode("redlane_redis_memory_used_bytes") + " / (" + byNode("redlane_redis_memory_max_bytes") + " > 0)"

func redisAvailability() section {
	return section{title: "Availability", panels: panels(
		single("Up", units.NoUnit,
			"Whether every selected Redlane instance got INFO from the node at its last refresh. DOWN: sessions and "+
				"locks answer 503, the cache serves from the database, readiness fails.",
			q("min by (node) ("+nodeSel("redlane_redis_up")+")", "{{node}}")).
			Mappings(states("1", "UP", "green", "0", "DOWN", "red")),
		single("Role and version", units.NoUnit,
			"Each node's role (master or replica), Redis version and Redlane's connection mode. A master turned "+
				"replica (or the reverse) is a failover: expect a burst of errors around it.",
			q("max by (node, role, version, mode) ("+nodeSel("redlane_redis_instance_info")+")",
				"{{node}}: {{role}} {{version}} ({{mode}})")).
			TextMode(common.BigValueTextModeName).
			ColorMode(common.BigValueColorModeNone).
			GraphMode(common.BigValueGraphModeNone),
		single("Uptime", units.Seconds,
			"Time since each node started. Short or falling again and again: the node restarts (crash, OOM kill); "+
				"without persistence each restart loses all sessions, locks and queued tasks.",
			q("min by (node) ("+nodeSel("redlane_redis_uptime_seconds")+")", "{{node}}")).
			Thresholds(steps("red", 600.0, "green")),
		single("Memory used of maxmemory", units.PercentUnit,
			"Used memory as a share of maxmemory. Near 100% Redis evicts keys by its policy (allkeys-lru evicts "+
				"sessions and queue tasks too, not only cache entries) or refuses writes (noeviction). No value: "+
				"maxmemory is 0 (no limit) and Redis grows until the OS kills it; set maxmemory.",
			q(memoryRatio, "{{node}}")).
			Thresholds(steps("green", 0.8, "orange", 0.9, "red")).
			Min(0).Max(1),
	)}
}

func redisMemory() section {
	return section{title: "Memory and keys", panels: panels(
		graph("Memory used and maxmemory", units.BytesIEC,
			"INFO used_memory per node, with maxmemory where one is set (0 means no limit and is not drawn).",
			q(byNode("redlane_redis_memory_used_bytes"), "{{node}} used"),
			q(byNode("redlane_redis_memory_max_bytes")+" > 0", "{{node}} maxmemory")),
		graph("Memory used / maxmemory", units.PercentUnit,
			"Share of maxmemory in use per node (nodes without maxmemory are not drawn). Above 90% evictions start "+
				"or are about to.",
			q(memoryRatio, "{{node}}")).
			Min(0).Max(1),
		graph("Fragmentation ratio", units.NoUnit,
			"RSS over used memory. Above 1.5 memory is wasted to fragmentation (a restart or activedefrag reclaims it); "+
				"below 1 the OS swaps Redis out and every command slows down.",
			q(byNode("redlane_redis_memory_fragmentation_ratio"), "{{node}}")),
		graph("Evicted and expired keys per second", units.CountsPerSecond,
			"Evicted: removed because memory hit maxmemory; any sustained eviction means Redis is too small for the "+
				"data (raise maxmemory or shorten TTLs). Expired: removed because their TTL passed, which is normal.",
			q(byNodeRate("redlane_redis_evicted_keys_total"), "{{node}} evicted"),
			q(byNodeRate("redlane_redis_expired_keys_total"), "{{node}} expired")),
		graph("Keys per database", units.Short,
			"Keys per node and database, and how many carry a TTL. Keys without a TTL that keep growing are a leak.",
			q("max by (node, db) ("+nodeSel("redlane_redis_db_keys")+")", "{{node}} {{db}}"),
			q("max by (node, db) ("+nodeSel("redlane_redis_db_keys_expiring")+")", "{{node}} {{db}} with TTL")),
		graph("Keyspace hit rate", units.PercentUnit,
			"Key lookups that found the key, per node. This counts every read of every feature (session checks, "+
				"locks, queue) and is not the cache hit rate (see Redlane overview); a drop together with evictions "+
				"means memory is too small.",
			q(byNodeRate("redlane_redis_keyspace_hits_total")+" / ("+byNodeRate("redlane_redis_keyspace_hits_total")+
				" + "+byNodeRate("redlane_redis_keyspace_misses_total")+")", "{{node}}")).
			Min(0).Max(1),
	)}
}

func redisLoad() section {
	return section{title: "Load and clients", panels: panels(
		graph("Commands per second", units.OpsPerSecond,
			"Commands processed per node (from the counter) and Redis' own instantaneous ops/s sample. A node far "+
				"busier than the others in a Cluster holds hot keys.",
			q(byNodeRate("redlane_redis_commands_processed_total"), "{{node}} commands/s"),
			q(byNode("redlane_redis_ops_per_second"), "{{node}} ops/s (sampled)")),
		graph("Connected and blocked clients", units.Short,
			"Client connections per node, and clients blocked in a blocking command (queue claims with wait, "+
				"XREAD). Connected near maxclients (10000 by default) refuses new connections.",
			q(byNode("redlane_redis_connected_clients"), "{{node}} connected"),
			q(byNode("redlane_redis_blocked_clients"), "{{node}} blocked")),
	)}
}

// redisPool is the Redlane side: its go-redis pool, per instance (no node).
func redisPool() section {
	return section{title: "Redlane connection pool", panels: panels(
		graph("Pool connections by instance", units.Short,
			"Open and idle connections in each Redlane instance's pool. Open at spec.redis.poolSize with no idle "+
				"ones: the pool is exhausted and requests queue for a connection.",
			q("sum by (instance) ("+sel("redlane_redis_pool_connections")+")", "{{instance}} open"),
			q("sum by (instance) ("+sel("redlane_redis_pool_idle_connections")+")", "{{instance}} idle")),
		graph("Pool waits and churn per second", units.CountsPerSecond,
			"timeouts: a command gave up waiting for a free connection (raise spec.redis.poolSize), should be 0; "+
				"misses: a new connection was opened; stale: connections closed as stale.",
			q(sumRate("", "redlane_redis_pool_timeouts_total"), "timeouts"),
			q(sumRate("", "redlane_redis_pool_misses_total"), "misses (new connections)"),
			q(sumRate("", "redlane_redis_pool_stale_connections_total"), "stale closed")),
	)}
}
