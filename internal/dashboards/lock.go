package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/units"

// lockSection: distributed leases (redlane_lock_*).
func lockSection() section {
	return section{title: "Locks", panels: panels(
		graph("Lock acquisitions per second by result", units.OpsPerSecond,
			"acquired, timeout (another owner held it for the whole wait), canceled (the caller gave up) and error "+
				"(Redis). Many timeouts: holders keep locks too long or crashed holders wait for their TTL.",
			q(sumRate("result", "redlane_lock_acquire_total"), "{{result}}")),
		graph("Lease extensions and releases per second", units.OpsPerSecond,
			"By result. not_held means the lease had expired or passed to another owner before its holder extended "+
				"or released it: that holder's work was no longer protected (raise its TTL, extend sooner).",
			q(sumRate("result", "redlane_lock_extend_total"), "extend {{result}}"),
			q(sumRate("result", "redlane_lock_release_total"), "release {{result}}")),
		graph("Lock wait", units.Seconds,
			"p50 and p99 time from the first attempt to a successful acquisition: contention on the busiest locks.",
			p50p99("", "redlane_lock_acquire_wait_seconds")...),
	)}
}
