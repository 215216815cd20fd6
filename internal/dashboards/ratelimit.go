package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/units"

// rateLimitSection: GCRA decisions per policy (redlane_ratelimit_*).
func rateLimitSection() section {
	const decisions = "redlane_ratelimit_decisions_total"
	return section{title: "Rate limiting", panels: panels(
		graph("Rate-limit decisions per second by result", units.RequestsPerSecond,
			"allowed, limited (answered 429), failed_open (Redis unavailable, let through) and failed_closed (Redis "+
				"unavailable, refused with 503). Any failed_* means limits are not enforced as configured.",
			q(sumRate("result", decisions), "{{result}}")),
		graph("Limited share by policy", units.PercentUnit,
			"Share of each policy's requests refused with 429. A policy limiting most of its traffic is too tight "+
				"for real clients, or one client is abusing it (its key shows in the access logs).",
			q(ratio("policy", decisions, `result="limited"`), "{{policy}}")).
			Min(0).Max(1),
		graph("Decision latency", units.Seconds,
			"p50 and p99 time to decide one request, one Redis round trip included: this is added to every limited "+
				"route's latency.",
			p50p99("", "redlane_ratelimit_decision_duration_seconds")...),
		single("Rate-limit breaker", units.NoUnit,
			"The breaker in front of Redis on each instance. OPEN: Redis failed and decisions fail at once, open or "+
				"closed per policy (failOpen), until a probe succeeds.",
			q("max by (instance) ("+sel("redlane_ratelimit_breaker_open")+")", "{{instance}}")).
			Mappings(states("0", "closed", "green", "1", "OPEN", "red")),
		single("Unenforced decisions per second", units.RequestsPerSecond,
			"Decisions taken without Redis (failed_open plus failed_closed). Should be 0.",
			q(orZero("", decisions, `result=~"failed_open|failed_closed"`), "failed")).
			Thresholds(steps("green", 0.01, "red")),
	)}
}
