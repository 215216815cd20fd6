package realtime

import "github.com/prometheus/client_golang/prometheus"

// metrics are the chat metrics of one instance (redlane_realtime_*).
type metrics struct {
	connections     *prometheus.GaugeVec
	rooms           prometheus.Gauge
	published       *prometheus.CounterVec
	delivered       prometheus.Counter
	dropped         *prometheus.CounterVec
	slowDisconnects prometheus.Counter
	latency         prometheus.Histogram
	resumes         *prometheus.CounterVec
	pubsubErrors    prometheus.Counter
	catchups        prometheus.Counter
	gaps            *prometheus.CounterVec

	publishLimited     *prometheus.CounterVec
	publishLimitCloses prometheus.Counter
}

// gapReasons are the reasons a gap frame gives (continuity.go).
var gapReasons = []string{"history-trimmed", "history-expired", "history-lost", "history-unavailable", "history-rolled-back", "failover"}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redlane_realtime_connections", Help: "Open chat connections on this instance, by transport (ws: WebSocket, sse: Server-Sent Events).",
		}, []string{"transport"}),
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "redlane_realtime_rooms", Help: "Rooms with at least one member on this instance (each one subscribed in Redis).",
		}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_realtime_messages_published_total", Help: "Messages published by this instance, by entry point (http or ws); idempotent replays are not counted.",
		}, []string{"via"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redlane_realtime_messages_delivered_total", Help: "Message frames written to sockets (one per member).",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_realtime_messages_dropped_total", Help: "Messages not delivered to a member, by reason (slow_consumer: its queue was full and it was disconnected; write_error: the socket failed).",
		}, []string{"reason"}),
		slowDisconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redlane_realtime_slow_consumer_disconnects_total", Help: "Sockets closed with 4008 because they did not keep up with their rooms.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "redlane_realtime_delivery_latency_seconds",
			Help:    "Time from publish (on any instance) to the frame written to a socket on this one.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		resumes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_realtime_resumes_total", Help: "Joins that resumed from a message id, by result (complete, or gap when history no longer covered it).",
		}, []string{"result"}),
		pubsubErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redlane_realtime_pubsub_connection_errors_total", Help: "Times a shared pub/sub connection failed and was re-established.",
		}),
		catchups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redlane_realtime_catchup_messages_total", Help: "Messages this instance read from history because pub/sub did not bring them (after a reconnect or a race with a subscription).",
		}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_realtime_gaps_total", Help: "Gap frames this instance sent (once per room for live members, once per resuming socket), by reason: history-trimmed or history-expired (history no longer reaches back), history-lost (pub/sub and history both lack the messages), history-unavailable (history could not be read), history-rolled-back (a restarted Redis lost acknowledged messages), failover (a promoted replica may lack acknowledged messages).",
		}, []string{"reason"}),
		publishLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_realtime_publish_limited_total", Help: "Messages refused by spec.realtime.publishRate, by scope (connection or sender) and entry point (ws: an error frame, http: 429).",
		}, []string{"scope", "via"}),
		publishLimitCloses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redlane_realtime_publish_limit_closes_total", Help: "Sockets closed with 1008 after publishRate.closeAfter refused messages in a row.",
		}),
	}
	m.publishLimited.WithLabelValues("connection", "ws")
	m.publishLimited.WithLabelValues("sender", "ws")
	m.publishLimited.WithLabelValues("sender", "http")
	for _, r := range gapReasons {
		m.gaps.WithLabelValues(r)
	}
	m.connections.WithLabelValues("ws")
	m.connections.WithLabelValues("sse")
	m.published.WithLabelValues("http")
	m.published.WithLabelValues("ws")
	m.dropped.WithLabelValues("slow_consumer")
	m.dropped.WithLabelValues("write_error")
	m.resumes.WithLabelValues("complete")
	m.resumes.WithLabelValues("gap")
	reg.MustRegister(m.connections, m.rooms, m.published, m.delivered, m.dropped, m.slowDisconnects,
		m.latency, m.resumes, m.pubsubErrors, m.catchups, m.gaps, m.publishLimited, m.publishLimitCloses)
	return m
}
