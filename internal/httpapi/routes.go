package httpapi

import (
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/redlane/redlane/internal/lock"
	"github.com/redlane/redlane/internal/ratelimit"
)

// addRoutes lists the entire API surface in one place.
func addRoutes(r *mux.Router, d Deps) {
	admin := requireAdmin(d.Config, d.DevMode, d.AdminChecks)

	// Health and metrics.
	r.Handle("/health", handleHealth(d.Redis)).Methods("GET")
	r.Handle("/healthz", handleLiveness()).Methods("GET")
	r.Handle("/readyz", handleReadiness(d.Probes)).Methods("GET")
	r.Handle("/metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{Registry: d.Registry})).Methods("GET")

	// Admin.
	r.Handle("/admin/config", admin(handleAdminConfig(d.Config))).Methods("GET")
	r.Handle("/admin/config/reload", admin(handleAdminReload(d.Config, d.Reload))).Methods("POST")

	// Sessions: login on many devices, sliding and absolute timeouts.
	auth := d.Sessions
	r.Handle("/auth/login", auth.HandleLogin()).Methods("POST")
	r.Handle("/auth/logout", auth.Require(auth.HandleLogout())).Methods("POST")
	r.Handle("/auth/session", auth.Require(auth.HandleSession())).Methods("GET")
	r.Handle("/auth/sessions", auth.Require(auth.HandleList())).Methods("GET")
	r.Handle("/auth/sessions", auth.Require(auth.HandleRevokeOthers())).Methods("DELETE")
	r.Handle("/auth/sessions/{id}", auth.Require(auth.HandleRevoke())).Methods("DELETE")
	r.Handle("/auth/analytics", admin(auth.HandleAnalytics())).Methods("GET")

	// Rate limiting: the seed's demo; policies apply to any route.
	r.Handle("/api/limited-endpoint", ratelimit.HandleLimitedEndpoint()).Methods("GET")

	// Distributed locks: leases with fencing tokens.
	r.Handle("/locks/{name:.+}", lock.HandleAcquire(d.Locks, d.Config)).Methods("POST")
	r.Handle("/locks/{name:.+}", lock.HandleExtend(d.Locks)).Methods("PUT")
	r.Handle("/locks/{name:.+}", lock.HandleRelease(d.Locks)).Methods("DELETE")
	r.Handle("/locks/{name:.+}", lock.HandleInspect(d.Locks)).Methods("GET")
}
