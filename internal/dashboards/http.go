package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/units"

// httpSection: request rate, status codes, error ratio and latency by route
// (redlane_http_*, labelled by route template, never by raw path).
func httpSection() section {
	const reqs, dur = "redlane_http_requests_total", "redlane_http_request_duration_seconds"
	latency := func(p float64) []query { return withExemplars(q(quantile(p, "route", dur), "{{route}}")) }
	return section{title: "HTTP", panels: panels(
		graph("Requests per second by route", units.RequestsPerSecond,
			"Requests per second by route template. Compare with your clients' rate: a route far above its usual level "+
				"is a retry storm or a misbehaving client (rate limits then show it as limited).",
			q(sumRate("route", reqs), "{{route}}")),
		graph("Responses per second by status code", units.RequestsPerSecond,
			"Responses by HTTP status code. 429 are rate-limit refusals, 503 mean Redis or the database is "+
				"unavailable (fail-closed features), 500 should never appear (a bug: look at the logs by request id).",
			q(sumRate("code", reqs), "{{code}}")),
		graph("5xx ratio by route", units.PercentUnit,
			"Share of each route's responses that are 5xx. A single route erring points at its feature (e.g. /locks when "+
				"Redis is down); all routes erring together points at Redis or the database.",
			q(ratio("route", reqs, `code=~"5.."`), "{{route}}"),
			q(ratio("", reqs, `code=~"5.."`), "all routes")).
			Min(0),
		graph("Requests in flight by instance", units.Short,
			"Requests being served right now. A steady climb means requests wait on something (Redis pool exhausted, "+
				"long polls, slow database); compare with the pool timeouts on the Redis dashboard.",
			q("sum by (instance) ("+sel("redlane_http_requests_in_flight")+")", "{{instance}}")),
		traced(graph("p50 latency by route", units.Seconds,
			"Median time to serve each route. Most Redlane routes are one or two Redis round trips: above a few "+
				"milliseconds the network to Redis or Redis itself is slow."+exemplarNote,
			latency(0.5)...).Span(8)),
		traced(graph("p95 latency by route", units.Seconds,
			"95th percentile per route. Long-poll routes (queue claim with wait, lock acquire with wait) are slow by design."+exemplarNote,
			latency(0.95)...).Span(8)),
		traced(graph("p99 latency by route", units.Seconds,
			"99th percentile per route: the tail users feel. A tail far above p95 often means connection-pool waits "+
				"or Redis blocked by a slow command (check SLOWLOG)."+exemplarNote,
			latency(0.99)...).Span(8)),
	)}
}
