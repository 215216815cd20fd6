package httpapi

import (
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/redlane/redlane/internal/leaderboard"
	"github.com/redlane/redlane/internal/lock"
	"github.com/redlane/redlane/internal/queue"
	"github.com/redlane/redlane/internal/ratelimit"
)

// addRoutes lists the entire API surface in one place.
func addRoutes(r *routes, d Deps) {
	admin := requireAdmin(d.Config, d.DevMode, d.AdminChecks)

	// Users (cache-aside over the users database) and the caching API.
	// First: gorilla/mux tries routes in order, and GET /users/{id} is the
	// hottest route.
	if u, c := d.UsersAPI, d.Cache; u != nil && c != nil {
		r.Handle("/users/{id}", u.HandleGet()).Methods("GET")
		r.Handle("/users", u.HandleList()).Methods("GET")
		r.Handle("/users", admin(u.HandleCreate())).Methods("POST")
		r.Handle("/users/{id}", admin(u.HandleReplace())).Methods("PUT")
		r.Handle("/users/{id}", admin(u.HandlePatch())).Methods("PATCH")
		r.Handle("/users/{id}", admin(u.HandleDelete())).Methods("DELETE")
		r.Handle("/cache/stats", c.HandleStats()).Methods("GET")
		r.Handle("/cache/clear", admin(c.HandleClear())).Methods("POST")
		r.Handle("/cache/warm", c.HandleWarmStatus()).Methods("GET")
		r.Handle("/cache/warm", admin(u.HandleWarm())).Methods("POST")
		r.Handle("/cache/keys/{key}/ttl", c.HandleKeyTTL()).Methods("GET")
	}

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

	// API docs and the browser chat demo (internal/docs), embedded in the binary.
	if d.Docs != nil {
		r.Handle("/openapi.json", d.Docs.HandleOpenAPI()).Methods("GET")
		r.Handle("/docs", d.Docs.HandleDocs()).Methods("GET")
		r.Handle("/ui/{file}", d.Docs.HandleAsset("")).Methods("GET")
		r.Handle("/ui/swagger-ui/{file}", d.Docs.HandleAsset("swagger-ui")).Methods("GET")
		r.Handle("/", d.Docs.HandleChat()).Methods("GET")
	}

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

	// Task queue: at-least-once, visibility timeouts, retries; dead letters are for operators (admin).
	r.Handle("/queues/{name}", queue.HandleStats(d.Queues)).Methods("GET")
	r.Handle("/queues/{name}/tasks", queue.HandleEnqueue(d.Queues)).Methods("POST")
	r.Handle("/queues/{name}/tasks/{id}", queue.HandleGetTask(d.Queues)).Methods("GET")
	r.Handle("/queues/{name}/claim", queue.HandleClaim(d.Queues, d.Config)).Methods("POST")
	r.Handle("/queues/{name}/tasks/{id}/ack", queue.HandleAck(d.Queues)).Methods("POST")
	r.Handle("/queues/{name}/tasks/{id}/nack", queue.HandleNack(d.Queues)).Methods("POST")
	r.Handle("/queues/{name}/tasks/{id}/extend", queue.HandleExtend(d.Queues)).Methods("POST")
	r.Handle("/queues/{name}/dead", admin(queue.HandleListDead(d.Queues))).Methods("GET")
	r.Handle("/queues/{name}/dead/{id}/requeue", admin(queue.HandleRequeueDead(d.Queues))).Methods("POST")
	r.Handle("/queues/{name}/dead/{id}", admin(queue.HandleDeleteDead(d.Queues))).Methods("DELETE")

	// Leaderboards: sorted sets, deterministic ties, daily/weekly boards.
	r.Handle("/leaderboards/{name}", leaderboard.HandleTop(d.Leaderboards)).Methods("GET")
	r.Handle("/leaderboards/{name}/scores", leaderboard.HandleScore(d.Leaderboards)).Methods("POST")
	r.Handle("/leaderboards/{name}/members/{member}", leaderboard.HandleMember(d.Leaderboards)).Methods("GET")
}
