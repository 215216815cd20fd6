package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/web"
)

// AdminCheck reports whether a request carries admin rights by some means
// other than the admin token (the sessions package adds admin sessions).
type AdminCheck func(*http.Request) bool

// requireAdmin lets a request through when it presents the configured admin
// token (Authorization: Bearer or X-Admin-Token), or the viewer token for a
// GET or HEAD (a change with it is a 403 read-only), passes one of checks, or
// the server runs in embedded development mode with no admin token set: a
// token that is set is required in every mode. Tokens are compared as
// SHA-256 digests in constant time.
func requireAdmin(cfg *config.Store, devMode bool, checks []AdminCheck) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if sec := cfg.Current().Spec.Security; devMode && sec.AdminToken == "" && sec.ViewerToken == "" {
				next.ServeHTTP(w, r)
				return
			}
			for _, c := range checks {
				if c(r) {
					next.ServeHTTP(w, r)
					return
				}
			}
			sec := cfg.Current().Spec.Security
			want := sec.AdminToken
			got := r.Header.Get("X-Admin-Token")
			if got == "" {
				if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
					got = strings.TrimSpace(a[7:])
				}
			}
			if tokenIs(got, want) {
				next.ServeHTTP(w, r)
				return
			}
			if tokenIs(got, sec.ViewerToken) {
				if r.Method == http.MethodGet || r.Method == http.MethodHead {
					next.ServeHTTP(w, r)
					return
				}
				web.WriteProblem(w, r, web.Errorf(http.StatusForbidden, "read-only",
					"The viewer token (spec.security.viewerToken) may only read; this change needs the admin token or an admin session."))
				return
			}
			if web.PrincipalFrom(r.Context()) != nil {
				web.WriteProblem(w, r, web.Errorf(http.StatusForbidden, "forbidden", "This endpoint needs the admin role."))
				return
			}
			if want == "" && len(checks) == 0 {
				web.WriteProblem(w, r, web.Errorf(http.StatusForbidden, "admin-disabled",
					"Admin endpoints are disabled: set spec.security.adminToken (env ADMIN_TOKEN)."))
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="redlane-admin"`)
			web.WriteProblem(w, r, web.Errorf(http.StatusUnauthorized, "unauthorized",
				"This endpoint needs an admin: log in as a user with the admin role, or send Authorization: Bearer <admin token> (spec.security.adminToken, env ADMIN_TOKEN)."))
		})
	}
}

// tokenIs compares a presented token with a configured one (both set) as
// SHA-256 digests in constant time.
func tokenIs(got, want string) bool {
	if got == "" || want == "" {
		return false
	}
	g, h := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], h[:]) == 1
}

// ops serves the endpoints of the process itself: its metrics and its
// configuration.
type ops struct {
	cfg    *config.Store
	reload func()
	reg    *prometheus.Registry
	redis  *redisx.InfoCache
}

// HandleRedis serves GET /admin/redis: every Redis node's role, version,
// memory against maxmemory and its policy, evictions, clients, keys and, in
// a Cluster, the slots each master owns. INFO comes from the cache the
// metrics read (spec.redis.infoCacheTTL).
func (o *ops) HandleRedis() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Cache-Control", "no-store")
		_ = web.Encode(w, http.StatusOK, map[string]any{"nodes": o.redis.Summary(ctx)})
	})
}

// HandleMetrics serves GET /metrics in the Prometheus text format, or in
// OpenMetrics when the scraper asks for it (Prometheus does): only
// OpenMetrics carries the latency histograms' exemplars (trace ids).
func (o *ops) HandleMetrics() http.Handler {
	return promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{Registry: o.reg, EnableOpenMetrics: true})
}

// HandleConfig serves GET /admin/config: the effective configuration with
// secrets redacted, its generation and the last reload result.
func (o *ops) HandleConfig() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		_ = web.Encode(w, http.StatusOK, map[string]any{
			"status": o.cfg.Status(),
			"config": config.Redact(o.cfg.Current()),
		})
	})
}

// HandleReload serves POST /admin/config/reload: reload the configuration
// now and report the result.
func (o *ops) HandleReload() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.reload()
		st := o.cfg.Status()
		code := http.StatusOK
		if !st.LastReloadOK {
			code = http.StatusUnprocessableEntity
		}
		_ = web.Encode(w, code, st)
	})
}
