package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/units"

// realtimeSection: WebSocket chat (redlane_realtime_*): connections, fan-out
// through Redis pub/sub, drops and slow consumers.
func realtimeSection() section {
	const latency = "redlane_realtime_delivery_latency_seconds"
	return section{title: "Real-time chat", panels: panels(
		single("WebSocket connections", units.Short,
			"Open chat sockets on the selected instances. A cliff means a deploy or a crash closed them (clients "+
				"reconnect and resume from their last message id).",
			q("sum("+sel("redlane_realtime_connections")+")", "connections")),
		single("Room subscriptions", units.Short,
			"Rooms with at least one member, summed over instances (a room with members on two pods counts twice): "+
				"each is one Redis pub/sub subscription.",
			q("sum("+sel("redlane_realtime_rooms")+")", "rooms")),
		single("Delivery p99", units.Seconds,
			"99th percentile from publish (on any instance) to the frame written to a socket. Above 100 ms: Redis "+
				"pub/sub or the instances are overloaded, or slow clients hold their queues.",
			q(quantile(0.99, "", latency), "p99")).
			Thresholds(steps("green", 0.1, "orange", 0.5, "red")),
		single("Pub/sub reconnects per second", units.CountsPerSecond,
			"Times a shared pub/sub connection failed and was re-established. Messages missed meanwhile are read back "+
				"from history (catch-up); repeated reconnects mean Redis or the network is unstable.",
			q(sumRate("", "redlane_realtime_pubsub_connection_errors_total"), "reconnects/s")).
			Thresholds(steps("green", 0.01, "orange")),
		graph("WebSocket connections by instance", units.Short,
			"Open sockets per instance. Very uneven counts mean the load balancer pins clients (sticky sessions) or "+
				"one pod restarted and the others kept its clients.",
			q("sum by (instance) ("+sel("redlane_realtime_connections")+")", "{{instance}}")),
		graph("Messages per second", units.MessagesPerSecond,
			"Messages published (via HTTP POST /chat/message or a socket) and frames delivered to members. "+
				"Delivered is published times room size; delivered falling while published holds means drops.",
			q(sumRate("via", "redlane_realtime_messages_published_total"), "published via {{via}}"),
			q(sumRate("", "redlane_realtime_messages_delivered_total"), "delivered")),
		graph("Dropped messages and slow-consumer disconnects", units.CountsPerSecond,
			"Messages not delivered, by reason: slow_consumer (the member's queue was full, it was disconnected with "+
				"4008 and resumes on reconnect) or write_error (the socket broke). Sustained drops: clients too slow or "+
				"rooms too busy for spec.realtime queue sizes.",
			q(sumRate("reason", "redlane_realtime_messages_dropped_total"), "dropped: {{reason}}"),
			q(sumRate("", "redlane_realtime_slow_consumer_disconnects_total"), "slow-consumer disconnects")),
		traced(graph("Delivery latency", units.Seconds,
			"p50 and p99 from publish to delivery across instances."+exemplarNote,
			withExemplars(p50p99("", latency)...)...)),
		graph("Resumes and catch-up per second", units.CountsPerSecond,
			"Joins resuming from a message id (complete, or gap when history no longer covered it: raise history "+
				"length or TTL), and messages read from history because pub/sub did not bring them.",
			q(sumRate("result", "redlane_realtime_resumes_total"), "resume {{result}}"),
			q(sumRate("", "redlane_realtime_catchup_messages_total"), "caught up from history")),
	)}
}
