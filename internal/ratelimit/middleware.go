package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/web"
)

type decisionKey struct{}

// Applied is what the middleware decided for a request, for handlers that
// want to show it (the /api/limited-endpoint demo).
type Applied struct {
	Policy   string
	Decision Decision
}

// AppliedFrom returns the decision made for this request, or nil when no
// policy matched or Redis could not decide.
func AppliedFrom(ctx context.Context) *Applied {
	a, _ := ctx.Value(decisionKey{}).(*Applied)
	return a
}

// Service applies spec.rateLimits to HTTP requests (Middleware) and serves
// the demo endpoint.
type Service struct {
	l   *Limiter
	ps  *Policies
	act activity // this instance's recent refusals, for operators
}

// NewService limits requests with l under the policies of cfg, which it
// follows as they reload.
func NewService(l *Limiter, cfg *config.Store) *Service {
	return &Service{l: l, ps: NewPolicies(cfg)}
}

// Middleware limits requests by the first matching policy. It runs after
// route matching (wrapped around each route's handler, or mux.Router.Use),
// so policies can match route templates. It must run after the sessions
// middleware that puts the caller in the context, for key "user".
func (s *Service) Middleware(next http.Handler) http.Handler {
	l, ps, act := s.l, s.ps, &s.act
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := ps.current()
		p := c.match(r, web.RouteOf(r))
		if p == nil {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		subject := c.subject(r, p)
		d, err := l.Allow(r.Context(), Key(l.rc, p.Name, subject), p.rate)
		l.metrics.duration.Observe(time.Since(start).Seconds())
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return // the client left
			}
			if p.FailOpen {
				l.metrics.decisions.WithLabelValues(p.Name, "failed_open").Inc()
				next.ServeHTTP(w, r)
				return
			}
			l.metrics.decisions.WithLabelValues(p.Name, "failed_closed").Inc()
			web.Logger(r.Context()).Debug("rate limit undecided, refusing (failOpen false)", "policy", p.Name, "error", err.Error())
			web.WriteProblem(w, r, &web.Error{Status: http.StatusServiceUnavailable, Slug: "rate-limit-unavailable",
				Detail: "The rate limiter cannot decide right now; try again shortly.", RetryAfter: time.Second})
			return
		}
		h := w.Header()
		h.Set("RateLimit-Policy", p.policyHeader)
		if !d.Allowed {
			l.metrics.decisions.WithLabelValues(p.Name, "limited").Inc()
			act.limited(Limited{At: time.Now(), Policy: p.Name, Subject: subject, Route: web.RouteOf(r)})
			retry := max(ceilSeconds(d.Refill), 1)
			h.Set("RateLimit", serviceLimit(p.Name, 0, retry))
			web.WriteProblem(w, r, &web.Error{Status: http.StatusTooManyRequests, Slug: "rate-limited",
				Detail:     "Too many requests under policy " + strconv.Quote(p.Name) + "; retry after " + strconv.FormatInt(retry, 10) + "s.",
				RetryAfter: time.Duration(retry) * time.Second})
			return
		}
		l.metrics.decisions.WithLabelValues(p.Name, "allowed").Inc()
		// t is when the next request comes back: within t the client can
		// use no more than r, the draft's definition, exact for GCRA.
		h.Set("RateLimit", serviceLimit(p.Name, d.Remaining, ceilSeconds(d.Refill)))
		ctx := context.WithValue(r.Context(), decisionKey{}, &Applied{Policy: p.Name, Decision: d})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// serviceLimit formats one RateLimit item (draft-ietf-httpapi-ratelimit-
// headers-11): "name";r=<remaining>;t=<seconds>.
func serviceLimit(name string, remaining int, t int64) string {
	return strconv.Quote(name) + ";r=" + strconv.Itoa(remaining) + ";t=" + strconv.FormatInt(t, 10)
}
