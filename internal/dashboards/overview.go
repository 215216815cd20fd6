package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// overview is "Redlane overview": what a user opens first when something is
// slow. One section per feature, in the order a request meets them.
func overview() (dashboard.Dashboard, error) {
	return build(spec{
		uid:   "redlane-overview",
		title: "Redlane overview",
		description: "Redlane's own metrics: HTTP traffic, errors and latency; health and configuration; " +
			"cache, sessions, client-side caching, chat, rate limits, locks, task queue and leaderboards. Redis itself is on the Redis dashboard.",
		variables: standardVariables(),
		sections: []section{
			glance(),
			httpSection(),
			healthSection(),
			cacheSection(),
			sessionSection(),
			trackingSection(),
			realtimeSection(),
			rateLimitSection(),
			lockSection(),
			queueSection(),
			leaderboardSection(),
		},
	})
}

// glance is the top line: the four numbers that say whether Redlane is well.
func glance() section {
	return section{title: "At a glance", panels: panels(
		single("Requests per second", units.RequestsPerSecond,
			"HTTP requests served per second by the selected instances. A sudden drop with steady clients means requests "+
				"no longer reach Redlane (ingress, DNS, pods not ready).",
			q(sumRate("", "redlane_http_requests_total"), "requests/s")),
		single("5xx ratio", units.PercentUnit,
			"Share of responses that are server errors (5xx). Above 1% something is failing: usually Redis or the database "+
				"is unreachable (sessions and locks answer 503 then); see the Health section and the Redis dashboard.",
			q(ratio("", "redlane_http_requests_total", `code=~"5.."`), "5xx")).
			Thresholds(steps("green", 0.01, "orange", 0.05, "red")),
		single("p99 latency", units.Seconds,
			"99th percentile of the time to serve a request, over all routes (WebSocket upgrades excluded). "+
				"Rising latency with flat traffic points at Redis (slow commands, memory pressure) or the database.",
			q(quantile(0.99, "", "redlane_http_request_duration_seconds"), "p99")).
			Thresholds(steps("green", 0.25, "orange", 1.0, "red")),
		single("Ready instances", units.Short,
			"Instances whose readiness checks pass (Redis and the database answer, not draining), and instances "+
				"reporting. Fewer ready than running means pods get no traffic; see Failing readiness checks.",
			q("sum("+sel("redlane_ready")+")", "ready"),
			q("count("+sel("redlane_ready")+")", "running")).
			TextMode(common.BigValueTextModeValueAndName),
	)}
}
