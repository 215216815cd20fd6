package session

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the session metrics.
type Metrics struct {
	logins      *prometheus.CounterVec
	lookups     *prometheus.CounterVec
	valid       prometheus.Counter // lookups{result="valid"}, resolved once for the hot path
	active      prometheus.Gauge
	activeUsers prometheus.Gauge
}

// NewMetrics registers the session metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_session_logins_total",
			Help: "Login attempts by result: success, bad_credentials, locked (too many failures), invalid (bad input), error.",
		}, []string{"result"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_session_lookups_total",
			Help: "Session token checks by result: valid, missing, expired, invalid (malformed token), error (Redis).",
		}, []string{"result"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "redlane_sessions_active",
			Help: "Live sessions across all pods (refreshed every 15s).",
		}),
		activeUsers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "redlane_session_active_users",
			Help: "Users with at least one live session (refreshed every 15s).",
		}),
	}
	for _, r := range []string{"success", "bad_credentials", "locked", "invalid", "error"} {
		m.logins.WithLabelValues(r)
	}
	for _, r := range []string{"valid", "missing", "expired", "invalid", "error"} {
		m.lookups.WithLabelValues(r)
	}
	m.valid = m.lookups.WithLabelValues("valid")
	reg.MustRegister(m.logins, m.lookups, m.active, m.activeUsers)
	return m
}
