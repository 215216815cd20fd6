package config

import "github.com/prometheus/client_golang/prometheus"

// RegisterMetrics exposes the reload status, Prometheus' own
// config_last_reload_successful pattern.
func (s *Store) RegisterMetrics(reg prometheus.Registerer) {
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "redlane_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt succeeded (1) or was rejected (0).",
		}, func() float64 { return b2f(s.Status().LastReloadOK) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "redlane_config_last_reload_success_timestamp_seconds",
			Help: "Unix time at which the configuration in effect was loaded.",
		}, func() float64 { return float64(s.Status().LoadedAt.UnixNano()) / 1e9 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "redlane_config_generation",
			Help: "Generation of the configuration in effect; increases on every successful reload.",
		}, func() float64 { return float64(s.Status().Generation) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "redlane_config_pending_restart",
			Help: "Number of changed settings that need a restart to take effect.",
		}, func() float64 { return float64(len(s.Status().PendingRestart)) }),
	)
}
