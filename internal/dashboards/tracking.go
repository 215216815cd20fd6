package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/units"

// trackingSection: client-side caching kept coherent by Redis tracking
// (redlane_tracking_*), which the near cache and the session lookups use.
func trackingSection() section {
	return section{title: "Client-side caching (Redis tracking)", panels: panels(
		single("Tracking state", units.NoUnit,
			"Per instance: live (every Redis master's invalidation connection confirmed; near-cache and session copies "+
				"served with no Redis round trip), down (copies flushed and bypassed: every read goes to Redis until it is "+
				"back), or unsupported (Redis refused CLIENT TRACKING: the near cache falls back to its ttl, sessions read Redis). "+
				"Down for more than seconds: the instance cannot keep a connection to a Redis master.",
			q("min by (instance) ("+sel("redlane_tracking_state")+")", "{{instance}}")).
			Mappings(states("-1", "unsupported", "orange", "0", "down", "red", "1", "live", "green")),
		single("Invalidation connections", units.Short,
			"Confirmed invalidation connections over the selected instances: one per Redis master per instance when "+
				"all is well.",
			q("sum("+sel("redlane_tracking_connections")+")", "connections")),
		single("Local hits per second", units.ReadsPerSecond,
			"Reads answered from tracked copies, all consumers: each one a Redis round trip saved.",
			q(sumRate("", "redlane_tracking_local_hits_total"), "hits/s")),
		single("Invalidations per second", units.CountsPerSecond,
			"Keys Redis reported changed to the selected instances. Every instance hears every write under the tracked "+
				"prefixes (broadcast mode), so this grows with write traffic times instances.",
			q(sumRate("", "redlane_tracking_invalidations_total"), "keys/s")),
		graph("Local hits per second by consumer", units.ReadsPerSecond,
			"Reads answered from the instance's tracked copy without Redis: cache (near-cache hits) and session "+
				"(token checks). A fall to 0 with steady traffic: tracking is down, or the copies are flushed too often.",
			q(sumRate("consumer", "redlane_tracking_local_hits_total"), "{{consumer}}")),
		graph("Flushes per second by reason", units.CountsPerSecond,
			"Whole copies dropped: disconnect (a connection failed or stopped answering), topology (Cluster masters "+
				"changed), server (FLUSHALL), connect (a set of connections became live). Frequent disconnect flushes: "+
				"an unstable network, or Redis timing out clients.",
			q(sumRate("reason", "redlane_tracking_flushes_total"), "{{reason}}")),
	)}
}
