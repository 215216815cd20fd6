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

	// Users (cache-aside over the users database) and the caching API.
	if u, c := d.UsersAPI, d.Cache; u != nil && c != nil {
		r.Handle("/users", u.List()).Methods("GET")
		r.Handle("/users", admin(u.Create())).Methods("POST")
		r.Handle("/users/{id}", u.Get()).Methods("GET")
		r.Handle("/users/{id}", admin(u.Replace())).Methods("PUT")
		r.Handle("/users/{id}", admin(u.Patch())).Methods("PATCH")
		r.Handle("/users/{id}", admin(u.Delete())).Methods("DELETE")
		r.Handle("/cache/stats", c.HandleStats()).Methods("GET")
		r.Handle("/cache/clear", admin(c.HandleClear())).Methods("POST")
		r.Handle("/cache/warm", c.HandleWarmStatus()).Methods("GET")
		r.Handle("/cache/warm", admin(u.HandleWarm())).Methods("POST")
		r.Handle("/cache/keys/{key}/ttl", c.HandleKeyTTL()).Methods("GET")
	}

	// Admin.
	r.Handle("/admin/config", admin(handleAdminConfig(d.Config))).Methods("GET")
	r.Handle("/admin/config/reload", admin(handleAdminReload(d.Config, d.Reload))).Methods("POST")
}
