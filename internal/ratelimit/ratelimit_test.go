package ratelimit_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/ratelimit"
	"github.com/redlane/redlane/internal/redistest"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/web"
)

// TestExactUnderConcurrency: two limiters (two pods) and many goroutines
// spend one limit; exactly the limit is admitted, on standalone and Cluster.
func TestExactUnderConcurrency(t *testing.T) {
	for _, b := range redistest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			rc1, rc2 := b.Open(t)
			opts := ratelimit.DefaultOptions()
			opts.Timeout = 5 * time.Second // -race on 2 shared cores: no spurious failures
			pods := []*ratelimit.Limiter{ratelimit.New(rc1, nil, opts), ratelimit.New(rc2, nil, opts)}
			const limit, burst, goroutines, each = 60, 15, 16, 25
			rate := ratelimit.Rate{Limit: limit, Period: time.Hour, Burst: burst}
			key := ratelimit.Key(rc1, "exact", "ip:192.0.2.1")
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for g := 0; g < goroutines; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						d, err := pods[g%2].Allow(context.Background(), key, rate)
						if err != nil {
							t.Error(err)
							return
						}
						if d.Allowed {
							admitted.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			if got := admitted.Load(); got != limit+burst {
				t.Fatalf("admitted %d of %d, want exactly limit+burst = %d", got, goroutines*each, limit+burst)
			}
		})
	}
}

// TestRefillAcrossPods: two limiters (two pods) drain a limit, wait for
// two and a half emission intervals, and between them admit exactly the
// two requests that refilled: the state is on Redis time, shared.
func TestRefillAcrossPods(t *testing.T) {
	for _, b := range redistest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			rc1, rc2 := b.Open(t)
			opts := ratelimit.DefaultOptions()
			opts.Timeout = 5 * time.Second
			pods := []*ratelimit.Limiter{ratelimit.New(rc1, nil, opts), ratelimit.New(rc2, nil, opts)}
			const interval = 2 * time.Second
			rate := ratelimit.Rate{Limit: 3, Period: 3 * interval}
			key := ratelimit.Key(rc1, "refill", "ip:192.0.2.9")
			spend := func(n int) int {
				var admitted atomic.Int64
				var wg sync.WaitGroup
				for i := 0; i < n; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						d, err := pods[i%2].Allow(context.Background(), key, rate)
						if err != nil {
							t.Error(err)
						} else if d.Allowed {
							admitted.Add(1)
						}
					}()
				}
				wg.Wait()
				return int(admitted.Load())
			}
			if got := spend(10); got != 3 {
				t.Fatalf("a fresh limit of 3 admitted %d of 10", got)
			}
			drained := time.Now()
			time.Sleep(5 * interval / 2)
			if got := spend(10); got != 2 {
				t.Fatalf("after %s (2.5 intervals of %s) the two pods admitted %d of 10, want exactly the 2 refilled",
					time.Since(drained).Round(time.Millisecond), interval, got)
			}
		})
	}
}

func TestDecisionSequence(t *testing.T) {
	rc := redistest.Start(t).Redisx(t)
	l := ratelimit.New(rc, nil, ratelimit.DefaultOptions())
	rate := ratelimit.Rate{Limit: 3, Period: time.Hour, Burst: 2}
	key := ratelimit.Key(rc, "seq", "ip:192.0.2.2")
	for want := 4; want >= 0; want-- {
		d, err := l.Allow(context.Background(), key, rate)
		if err != nil || !d.Allowed || d.Remaining != want {
			t.Fatalf("decision = %+v %v, want allowed with %d remaining", d, err, want)
		}
		if d.Full > 5*20*time.Minute || d.Refill > 20*time.Minute || d.Refill <= 0 {
			t.Fatalf("times out of range: %+v", d)
		}
	}
	d, err := l.Allow(context.Background(), key, rate)
	if err != nil || d.Allowed || d.Remaining != 0 || d.Refill <= 19*time.Minute || d.Refill > 20*time.Minute {
		t.Fatalf("sixth decision = %+v %v, want denied, retry in ~20m (one emission interval)", d, err)
	}
	ttl := rc.PTTL(context.Background(), key).Val()
	if ttl <= 0 || ttl > 5*20*time.Minute {
		t.Fatalf("state key TTL = %s, want until the capacity is full again", ttl)
	}
}

// TestBreakerDecidesFastWhenRedisIsDown: failures trip the breaker, which
// then answers at once without Redis, and closes again once Redis is back.
func TestBreakerDecidesFastWhenRedisIsDown(t *testing.T) {
	rs := redistest.Start(t)
	rc := rs.Redisx(t)
	reg := prometheus.NewRegistry()
	opts := ratelimit.Options{Timeout: 200 * time.Millisecond, TripAfter: 3, BreakerOpen: 300 * time.Millisecond}
	l := ratelimit.New(rc, reg, opts)
	rate := ratelimit.Rate{Limit: 100, Period: time.Minute}
	key := ratelimit.Key(rc, "down", "ip:192.0.2.3")
	if _, err := l.Allow(context.Background(), key, rate); err != nil {
		t.Fatal(err)
	}
	rs.Stop()
	for i := 0; i < 3; i++ {
		if _, err := l.Allow(context.Background(), key, rate); !errors.Is(err, ratelimit.ErrUnavailable) {
			t.Fatalf("decision %d with Redis down = %v", i, err)
		}
	}
	_, err := l.Allow(context.Background(), key, rate)
	if !errors.Is(err, gobreaker.ErrOpenState) || !errors.Is(err, ratelimit.ErrUnavailable) {
		t.Fatalf("after 3 failures the breaker should be open: %v", err)
	}
	if v := gaugeValue(t, reg, "redlane_ratelimit_breaker_open"); v != 1 {
		t.Fatalf("breaker gauge = %v", v)
	}
	rs.Restart()
	waitFor(t, func() bool {
		_, err := l.Allow(context.Background(), key, rate)
		return err == nil
	})
	if v := gaugeValue(t, reg, "redlane_ratelimit_breaker_open"); v != 0 {
		t.Fatalf("breaker gauge after recovery = %v", v)
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rig is a router with the middleware over a config store.
type rig struct {
	store *config.Store
	rc    *redisx.Client
	reg   *prometheus.Registry
	h     http.Handler
}

func newRig(t *testing.T, rc *redisx.Client, policies []config.RateLimitPolicy, trusted ...string) *rig {
	t.Helper()
	cfg := config.Default()
	cfg.Spec.RateLimits = policies
	cfg.Spec.Server.TrustedProxies = trusted
	if err := config.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	g := &rig{store: config.NewStore(cfg, "test"), rc: rc, reg: prometheus.NewRegistry()}
	r := mux.NewRouter()
	r.Use(func(next http.Handler) http.Handler { // a stand-in for the sessions middleware
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u := r.Header.Get("X-Test-User"); u != "" {
				r = r.WithContext(web.WithPrincipal(r.Context(), &web.Principal{UserID: int64(len(u)), Username: u}))
			}
			next.ServeHTTP(w, r)
		})
	})
	svc := ratelimit.NewService(ratelimit.New(rc, g.reg, ratelimit.DefaultOptions()), g.store)
	r.Use(svc.Middleware)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	r.Handle("/api/items/{id}", ok).Methods("GET", "POST")
	r.Handle("/api/limited-endpoint", svc.HandleLimitedEndpoint()).Methods("GET")
	r.Handle("/other", ok)
	g.h = r
	return g
}

func (g *rig) do(method, path string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.RemoteAddr = "203.0.113.9:5555"
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "RemoteAddr" {
			req.RemoteAddr = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	g.h.ServeHTTP(rec, req)
	return rec
}

func count(g *rig, n int, method, path string, hdr ...string) (ok, limited int) {
	for i := 0; i < n; i++ {
		switch g.do(method, path, hdr...).Code {
		case 200:
			ok++
		case 429:
			limited++
		}
	}
	return
}

func pol(name, key string, limit int, m config.RateLimitMatch) config.RateLimitPolicy {
	return config.RateLimitPolicy{Name: name, Key: key, Limit: limit, Period: config.D(time.Hour), Match: m}
}

func TestMiddleware(t *testing.T) {
	rc := redistest.Start(t).Redisx(t)

	t.Run("headers and 429 problem", func(t *testing.T) {
		g := newRig(t, rc, []config.RateLimitPolicy{pol("demo", "ip", 2, config.RateLimitMatch{PathPrefix: "/api/limited"})})
		r := g.do("GET", "/api/limited-endpoint")
		if r.Code != 200 || r.Header().Get("RateLimit-Policy") != `"demo";q=2;w=3600` || r.Header().Get("RateLimit") != `"demo";r=1;t=1800` {
			t.Fatalf("first = %d %q %q", r.Code, r.Header().Get("RateLimit-Policy"), r.Header().Get("RateLimit"))
		}
		if !strings.Contains(r.Body.String(), `"remaining":1`) {
			t.Fatalf("demo body = %s", r.Body)
		}
		g.do("GET", "/api/limited-endpoint")
		r = g.do("GET", "/api/limited-endpoint")
		if r.Code != 429 || r.Header().Get("Retry-After") != "1800" || r.Header().Get("RateLimit") != `"demo";r=0;t=1800` ||
			r.Header().Get("Content-Type") != "application/problem+json" || !strings.Contains(r.Body.String(), "rate-limited") {
			t.Fatalf("third = %d %v %s", r.Code, r.Header(), r.Body)
		}
		if v := decisions(t, g.reg, "demo", "limited"); v != 1 {
			t.Fatalf("limited decisions = %v", v)
		}
	})

	t.Run("route and method matching, first policy wins", func(t *testing.T) {
		g := newRig(t, rc, []config.RateLimitPolicy{
			pol("writes", "ip", 1, config.RateLimitMatch{Route: "/api/items/{id}", Methods: []string{"POST"}}),
			pol("reads", "ip", 3, config.RateLimitMatch{PathPrefix: "/api/items/"}),
		})
		if ok, lim := count(g, 3, "POST", "/api/items/1"); ok != 1 || lim != 2 {
			t.Fatalf("POST: %d ok %d limited, want 1/2", ok, lim)
		}
		if ok, lim := count(g, 5, "GET", "/api/items/2"); ok != 3 || lim != 2 {
			t.Fatalf("GET: %d ok %d limited, want 3/2", ok, lim)
		}
		if r := g.do("GET", "/other"); r.Code != 200 || r.Header().Get("RateLimit") != "" {
			t.Fatalf("unmatched route limited: %d %v", r.Code, r.Header())
		}
	})

	t.Run("keys: user, header (hashed), ip via trusted proxies only", func(t *testing.T) {
		g := newRig(t, rc, []config.RateLimitPolicy{
			pol("peruser", "user", 1, config.RateLimitMatch{Route: "/api/items/{id}", Methods: []string{"GET"}}),
			pol("perkey", "header:X-API-Key", 1, config.RateLimitMatch{Route: "/api/items/{id}"}),
			pol("perip", "ip", 1, config.RateLimitMatch{PathPrefix: "/api/limited"}),
		}, "10.0.0.0/8")
		if ok, _ := count(g, 1, "GET", "/api/items/1", "X-Test-User", "alice"); ok != 1 {
			t.Fatal("alice's first request refused")
		}
		if ok, _ := count(g, 1, "GET", "/api/items/1", "X-Test-User", "bob"); ok != 1 {
			t.Fatal("bob counted against alice")
		}
		if ok, _ := count(g, 1, "GET", "/api/items/1", "X-Test-User", "alice"); ok != 0 {
			t.Fatal("alice's second request admitted")
		}
		// Anonymous callers fall back to their IP.
		if ok, _ := count(g, 2, "GET", "/api/items/1"); ok != 1 {
			t.Fatal("anonymous caller not limited by IP")
		}
		if ok, _ := count(g, 2, "POST", "/api/items/1", "X-API-Key", "secret-key-1"); ok != 1 {
			t.Fatal("API key not limited")
		}
		if ok, _ := count(g, 1, "POST", "/api/items/1", "X-API-Key", "secret-key-2"); ok != 1 {
			t.Fatal("second API key counted against the first")
		}
		keys := rc.Keys(context.Background(), "*ratelimit*").Val()
		for _, k := range keys {
			if strings.Contains(k, "secret-key") {
				t.Fatalf("API key stored in clear in %q", k)
			}
		}
		// X-Forwarded-For from an untrusted peer is ignored: spoofing does not help.
		if ok, _ := count(g, 3, "GET", "/api/limited-endpoint", "X-Forwarded-For", "198.51.100.1", "RemoteAddr", "203.0.113.50:1"); ok != 1 {
			t.Fatalf("spoofed X-Forwarded-For from an untrusted peer bypassed the limit")
		}
		// From a trusted proxy, each forwarded client has its own limit.
		for _, ip := range []string{"198.51.100.7", "198.51.100.8"} {
			if ok, _ := count(g, 2, "GET", "/api/limited-endpoint", "X-Forwarded-For", ip, "RemoteAddr", "10.1.2.3:1"); ok != 1 {
				t.Fatalf("client %s behind a trusted proxy: %d admitted, want 1", ip, ok)
			}
		}
	})

	t.Run("policies reload live", func(t *testing.T) {
		g := newRig(t, rc, []config.RateLimitPolicy{pol("live1", "ip", 1, config.RateLimitMatch{PathPrefix: "/other"})})
		if ok, _ := count(g, 3, "GET", "/other"); ok != 1 {
			t.Fatalf("before reload: %d admitted", ok)
		}
		next := config.Default()
		next.Spec.RateLimits = []config.RateLimitPolicy{pol("live2", "ip", 3, config.RateLimitMatch{PathPrefix: "/other"})}
		g.store.Apply(next)
		if ok, _ := count(g, 5, "GET", "/other"); ok != 3 {
			t.Fatalf("after reload: %d admitted, want the new policy's 3", ok)
		}
		next = config.Default()
		next.Spec.RateLimits = []config.RateLimitPolicy{}
		g.store.Apply(next)
		if ok, _ := count(g, 5, "GET", "/other"); ok != 5 {
			t.Fatalf("with no policies: %d admitted, want all", ok)
		}
	})
}

func TestFailOpenOrClosed(t *testing.T) {
	rs := redistest.Start(t)
	rc := rs.Redisx(t)
	open := pol("open", "ip", 1, config.RateLimitMatch{PathPrefix: "/other"})
	open.FailOpen = true
	g := newRig(t, rc, []config.RateLimitPolicy{open, pol("closed", "ip", 1, config.RateLimitMatch{PathPrefix: "/api/"})})
	rs.Stop()
	for i := 0; i < 10; i++ { // beyond the breaker's trip count: both paths
		if r := g.do("GET", "/other"); r.Code != 200 {
			t.Fatalf("failOpen policy with Redis down = %d", r.Code)
		}
		r := g.do("GET", "/api/limited-endpoint")
		if r.Code != 503 || r.Header().Get("Retry-After") == "" || !strings.Contains(r.Body.String(), "rate-limit-unavailable") {
			t.Fatalf("fail-closed policy with Redis down = %d %s", r.Code, r.Body)
		}
	}
	if v := decisions(t, g.reg, "open", "failed_open"); v != 10 {
		t.Fatalf("failed_open = %v", v)
	}
	if v := decisions(t, g.reg, "closed", "failed_closed"); v != 10 {
		t.Fatalf("failed_closed = %v", v)
	}
}

// decisions is redlane_ratelimit_decisions_total{policy,result}, 0 while
// that series does not exist.
func decisions(t *testing.T, reg *prometheus.Registry, policy, result string) float64 {
	t.Helper()
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "redlane_ratelimit_decisions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["policy"] == policy && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
