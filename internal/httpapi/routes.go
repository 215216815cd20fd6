package httpapi

import (
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// addRoutes lists the entire API surface in one place.
func addRoutes(r *mux.Router, d Deps) {
	admin := requireAdmin(d.Config, d.DevMode, d.AdminChecks)

	// Health and metrics.
	r.Handle("/health", handleHealth(d.Redis)).Methods("GET")
	r.Handle("/healthz", handleLiveness()).Methods("GET")
	r.Handle("/readyz", handleReadiness(d.Probes)).Methods("GET")
	r.Handle("/metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{Registry: d.Registry})).Methods("GET")

	// Real-time chat (internal/realtime).
	if d.Chat != nil {
		r.Handle("/ws/chat/{room}", d.Chat.HandleSocket()).Methods("GET")
		r.Handle("/ws/chat", d.Chat.HandleSocket()).Methods("GET")
		r.Handle("/chat/message", d.Chat.HandlePostMessage()).Methods("POST")
		r.Handle("/chat/rooms", d.Chat.HandleRooms()).Methods("GET")
		r.Handle("/chat/history", d.Chat.HandleHistory()).Methods("GET")
		r.Handle("/chat/presence", d.Chat.HandlePresence()).Methods("GET")
	}

	// Admin.
	r.Handle("/admin/config", admin(handleAdminConfig(d.Config))).Methods("GET")
	r.Handle("/admin/config/reload", admin(handleAdminReload(d.Config, d.Reload))).Methods("POST")
}
