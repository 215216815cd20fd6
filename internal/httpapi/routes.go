package httpapi

// addRoutes lists the entire API surface in one place: one line per route,
// each a method of the package that owns the endpoint. GET routes answer
// HEAD too (routes.Handle).
func addRoutes(r *routes, d Deps, o *ops) {
	admin := requireAdmin(d.Config, d.DevMode, d.AdminChecks)

	// Users (cache-aside over the users database) and the caching API.
	// First: gorilla/mux tries routes in order, and GET /users/{id} is the
	// hottest route.
	if u, c := d.UsersAPI, d.Cache; u != nil && c != nil {
		r.Handle("GET", "/users/{id}", u.HandleGet())
		r.Handle("GET", "/users", u.HandleList())
		r.Handle("POST", "/users", admin(u.HandleCreate()))
		r.Handle("PUT", "/users/{id}", admin(u.HandleReplace()))
		r.Handle("PATCH", "/users/{id}", admin(u.HandlePatch()))
		r.Handle("DELETE", "/users/{id}", admin(u.HandleDelete()))
		r.Handle("GET", "/cache/stats", c.HandleStats())
		r.Handle("POST", "/cache/clear", admin(c.HandleClear()))
		r.Handle("GET", "/cache/warm", c.HandleWarmStatus())
		r.Handle("POST", "/cache/warm", admin(u.HandleWarm()))
		r.Handle("GET", "/cache/keys/{key}/ttl", c.HandleKeyTTL())
	}

	// Health and metrics.
	r.Handle("GET", "/health", d.Probes.HandleHealth())
	r.Handle("GET", "/healthz", d.Probes.HandleLiveness())
	r.Handle("GET", "/readyz", d.Probes.HandleReadiness())
	r.Handle("GET", "/metrics", o.HandleMetrics())

	// Real-time chat (internal/realtime).
	if chat := d.Chat; chat != nil {
		r.Handle("GET", "/ws/chat/{room}", chat.HandleSocket())
		r.Handle("GET", "/ws/chat", chat.HandleSocket())
		r.Handle("GET", "/sse/chat/{room}", chat.HandleEvents())
		r.Handle("POST", "/chat/message", chat.HandlePostMessage())
		r.Handle("GET", "/chat/rooms", chat.HandleRooms())
		r.Handle("GET", "/chat/history", chat.HandleHistory())
		r.Handle("GET", "/chat/presence", chat.HandlePresence())
	}

	// API docs and the browser chat demo (internal/docs), embedded in the binary.
	if site := d.Docs; site != nil {
		r.Handle("GET", "/openapi.json", site.HandleOpenAPI())
		r.Handle("GET", "/docs", site.HandleDocs())
		r.Handle("GET", "/ui/{file}", site.HandleAsset())
		r.Handle("GET", "/ui/swagger-ui/{file}", site.HandleSwaggerAsset())
		r.Handle("GET", "/", site.HandleChat())
		r.Handle("GET", "/admin", site.HandleAdmin())
	}

	// Admin.
	r.Handle("GET", "/admin/config", admin(o.HandleConfig()))
	r.Handle("POST", "/admin/config/reload", admin(o.HandleReload()))
	if d.RedisInfo != nil {
		r.Handle("GET", "/admin/redis", admin(o.HandleRedis()))
	}

	// Sessions: login on many devices, sliding and absolute timeouts.
	auth := d.Sessions
	r.Handle("POST", "/auth/login", auth.HandleLogin())
	r.Handle("POST", "/auth/logout", auth.Require(auth.HandleLogout()))
	r.Handle("GET", "/auth/session", auth.Require(auth.HandleSession()))
	r.Handle("GET", "/auth/sessions", auth.Require(auth.HandleList()))
	r.Handle("DELETE", "/auth/sessions", auth.Require(auth.HandleRevokeOthers()))
	r.Handle("DELETE", "/auth/sessions/{id}", auth.Require(auth.HandleRevoke()))
	r.Handle("GET", "/auth/analytics", admin(auth.HandleAnalytics()))
	r.Handle("GET", "/admin/users/{id}/sessions", admin(auth.HandleUserSessions()))
	r.Handle("DELETE", "/admin/users/{id}/sessions", admin(auth.HandleRevokeUser()))

	// Rate limiting: the demo endpoint; policies apply to any route.
	if rl := d.RateLimits; rl != nil {
		r.Handle("GET", "/api/limited-endpoint", rl.HandleLimitedEndpoint())
		r.Handle("GET", "/admin/ratelimits", admin(rl.HandleActivity()))
	}

	// Distributed locks: leases with fencing tokens.
	r.Handle("POST", "/locks/{name:.+}", d.Locks.HandleAcquire())
	r.Handle("PUT", "/locks/{name:.+}", d.Locks.HandleExtend())
	r.Handle("DELETE", "/locks/{name:.+}", d.Locks.HandleRelease())
	r.Handle("GET", "/locks/{name:.+}", d.Locks.HandleInspect())

	// Task queue: at-least-once, visibility timeouts, retries; dead letters are for operators (admin).
	q := d.Queues
	r.Handle("GET", "/queues/{name}", q.HandleStats())
	r.Handle("POST", "/queues/{name}/tasks", q.HandleEnqueue())
	r.Handle("GET", "/queues/{name}/tasks/{id}", q.HandleGetTask())
	r.Handle("POST", "/queues/{name}/claim", q.HandleClaim())
	r.Handle("POST", "/queues/{name}/tasks/{id}/ack", q.HandleAck())
	r.Handle("POST", "/queues/{name}/tasks/{id}/nack", q.HandleNack())
	r.Handle("POST", "/queues/{name}/tasks/{id}/extend", q.HandleExtend())
	r.Handle("GET", "/queues/{name}/dead", admin(q.HandleListDead()))
	r.Handle("POST", "/queues/{name}/dead/{id}/requeue", admin(q.HandleRequeueDead()))
	r.Handle("DELETE", "/queues/{name}/dead/{id}", admin(q.HandleDeleteDead()))
	r.Handle("GET", "/queues", admin(q.HandleList()))
	r.Handle("GET", "/admin/queues/events", admin(q.HandleEvents()))
	r.Handle("POST", "/queues/claim", q.HandleClaimPriorities())
	r.Handle("GET", "/queues/{name}/completed", admin(q.HandleListCompleted()))
	r.Handle("POST", "/queues/{name}/pause", admin(q.HandlePause()))
	r.Handle("POST", "/queues/{name}/resume", admin(q.HandleResume()))
	if s := d.Schedules; s != nil {
		r.Handle("GET", "/schedules", admin(s.HandleList()))
		r.Handle("POST", "/schedules/{name}/pause", admin(s.HandlePause()))
		r.Handle("POST", "/schedules/{name}/resume", admin(s.HandleResume()))
		r.Handle("POST", "/schedules/{name}/trigger", admin(s.HandleTrigger()))
	}

	// Leaderboards: sorted sets, deterministic ties, daily/weekly boards.
	r.Handle("GET", "/leaderboards/{name}", d.Leaderboards.HandleTop())
	r.Handle("POST", "/leaderboards/{name}/scores", d.Leaderboards.HandleScore())
	r.Handle("GET", "/leaderboards/{name}/members/{member}", d.Leaderboards.HandleMember())
}
