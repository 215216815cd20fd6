package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/redlane/redlane/internal/cache"
	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/docs"
	"github.com/redlane/redlane/internal/leaderboard"
	"github.com/redlane/redlane/internal/lock"
	"github.com/redlane/redlane/internal/queue"
	"github.com/redlane/redlane/internal/ratelimit"
	"github.com/redlane/redlane/internal/realtime"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/session"
	"github.com/redlane/redlane/internal/telemetry"
	"github.com/redlane/redlane/internal/users"
	"github.com/redlane/redlane/internal/web"
)

// Deps is everything the HTTP layer needs; cmd/redlane builds it.
type Deps struct {
	Config   *config.Store
	Cache    *cache.Cache
	UsersAPI *users.Service // /users through the cache
	Logger   *slog.Logger
	Registry *prometheus.Registry
	Tracing  *telemetry.Tracing // nil when tracing is off
	Probes   *Probes
	// Reload reloads the config file now (POST /admin/config/reload).
	Reload func()
	// DevMode (embedded Redis) opens admin endpoints to anonymous callers
	// while no admin token is set.
	DevMode bool
	// AdminChecks grant admin rights besides the admin token.
	AdminChecks []AdminCheck

	// Sessions authenticates requests and serves /auth.
	Sessions *session.Auth
	// Locks serves /locks.
	Locks *lock.Locker
	// RedisInfo answers GET /admin/redis from the INFO cache the metrics
	// use; nil leaves the route out.
	RedisInfo *redisx.InfoCache
	// Queues serves /queues.
	Queues *queue.Broker
	// Schedules runs spec.queue.schedules and serves /schedules.
	Schedules *queue.Scheduler
	// Leaderboards serves /leaderboards.
	Leaderboards *leaderboard.Boards
	// Docs serves /openapi.json, /docs and the chat demo page; nil leaves them out.
	Docs *docs.Site
	// RateLimits applies the rate-limit policies inside the router, after
	// route matching, so policies can match route templates; nil: no limits.
	RateLimits *ratelimit.Service
	// Chat serves WebSocket chat rooms and /chat/*; nil leaves them out.
	Chat *realtime.Hub
}

// Server is the whole HTTP handler; its router is kept so the route list
// can be read (Routes), e.g. to check the OpenAPI document against it.
type Server struct {
	http.Handler
	router *mux.Router
}

// NewServer builds the handler: middleware outside, router inside.
func NewServer(d Deps) *Server {
	r := mux.NewRouter()
	r.NotFoundHandler = notFound()
	r.MethodNotAllowedHandler = methodNotAllowed(r)
	rs := &routes{mux: r}
	if d.Sessions != nil {
		rs.wrap = append(rs.wrap, d.Sessions.Optional) // before rate limits: they key by user
	}
	if d.RateLimits != nil {
		rs.wrap = append(rs.wrap, d.RateLimits.Middleware)
	}
	addRoutes(rs, d, &ops{cfg: d.Config, reload: d.Reload, reg: d.Registry, redis: d.RedisInfo})

	cfg := d.Config.Current().Spec.Server
	var h http.Handler = dispatcher{r}
	h = limitBody(cfg.MaxBodyBytes)(h)
	h = cors(d.Config)(h)
	h = checkHeaders(h)
	h = recoverPanics(h)
	h = observe(newHTTPMetrics(d.Registry), web.ParsePrefixes(cfg.TrustedProxies), d.Logger)(h)
	h = requestID(d.Logger)(h)
	if d.Tracing != nil {
		h = traceRequests(d.Tracing)(h)
	}
	return &Server{Handler: h, router: r}
}
