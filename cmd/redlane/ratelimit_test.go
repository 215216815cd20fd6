package main

import (
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redlane/redlane/internal/redistest"
)

// seedLoop is the documented `for i in {1..10}; do curl .../api/limited-endpoint; done`.
func seedLoop(t *testing.T, s *server) (ok, limited int) {
	t.Helper()
	for i := 0; i < 10; i++ {
		r := s.do("GET", "/api/limited-endpoint", "")
		switch r.Status {
		case 200:
			ok++
			if r.Header.Get("RateLimit") == "" || r.Header.Get("RateLimit-Policy") != `"api";q=5;w=60` {
				t.Errorf("200 without RateLimit headers: %v", r.Header)
			}
		case 429:
			limited++
			if r.Header.Get("Retry-After") == "" || r.Header.Get("Content-Type") != "application/problem+json" ||
				!strings.HasPrefix(r.Header.Get("RateLimit"), `"api";r=0;t=`) {
				t.Errorf("429 = %v %s", r.Header, r.Body)
			}
		default:
			t.Fatalf("GET /api/limited-endpoint = %d %s", r.Status, r.Body)
		}
	}
	return
}

func TestRateLimitSeedLoop(t *testing.T) {
	for _, mode := range []string{"standalone", "cluster", "embedded"} {
		t.Run(mode, func(t *testing.T) {
			env := map[string]string{}
			switch mode {
			case "standalone":
				env["REDIS_URL"] = redistest.Start(t).URL()
			case "cluster":
				env["REDIS_ADDRS"] = strings.Join(redistest.StartCluster(t, 3, 0).Addrs(), ",")
			}
			s := startServer(t, env)
			if ok, limited := seedLoop(t, s); ok != 5 || limited != 5 {
				t.Fatalf("seed loop: %d allowed, %d limited; want 5 and 5 (default policy: 5 per minute)", ok, limited)
			}
			m := string(s.do("GET", "/metrics", "").Body)
			for _, want := range []string{
				`redlane_ratelimit_decisions_total{policy="api",result="allowed"} 5`,
				`redlane_ratelimit_decisions_total{policy="api",result="limited"} 5`,
			} {
				if !strings.Contains(m, want) {
					t.Errorf("metrics lack %s", want)
				}
			}
		})
	}
}

// TestRateLimitTwoServersExact: two servers, many goroutines, one limit:
// exactly the limit is admitted. Policies come from a file and reload live.
func TestRateLimitTwoServersExact(t *testing.T) {
	rs := redistest.Start(t)
	path := filepath.Join(t.TempDir(), "redlane.yaml")
	// A generous decision deadline: this test is about exactness, and a loaded
	// test machine must not turn slow decisions into fail-closed 503s.
	writeFile(t, path, `spec:
  rateLimiter: {decisionTimeout: 5s}
  rateLimits:
  - {name: shared, match: {pathPrefix: /api/}, key: "header:X-API-Key", limit: 40, burst: 5, period: 1h}
`)
	env := map[string]string{"REDIS_URL": rs.URL()}
	s1, s2 := startServer(t, env, "--config", path), startServer(t, env, "--config", path)

	var admitted, limited atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 12; g++ {
		s := []*server{s1, s2}[g%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				switch r := s.do("GET", "/api/limited-endpoint", "", "X-API-Key", "k1"); r.Status {
				case 200:
					admitted.Add(1)
				case 429:
					limited.Add(1)
				default:
					t.Errorf("status %d %s", r.Status, r.Body)
				}
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 45 || limited.Load() != 12*15-45 {
		t.Fatalf("admitted %d, limited %d; want exactly limit+burst = 45 admitted", admitted.Load(), limited.Load())
	}
	if r := s1.do("GET", "/api/limited-endpoint", "", "X-API-Key", "k2"); r.Status != 200 {
		t.Fatalf("another API key shares the limit: %d", r.Status)
	}

	// Edit the policy: both servers apply it without a restart.
	writeFile(t, path, `spec:
  rateLimits:
  - {name: tight, match: {route: /api/limited-endpoint, methods: [GET]}, key: ip, limit: 2, period: 1h}
`)
	for _, s := range []*server{s1, s2} {
		waitFor(t, func() bool {
			return s.do("GET", "/api/limited-endpoint", "").Header.Get("RateLimit-Policy") == `"tight";q=2;w=3600`
		})
	}
	if r := s2.do("GET", "/api/limited-endpoint", ""); r.Status != 429 {
		t.Fatalf("new policy not shared across servers: %d %v", r.Status, r.Header)
	}

	// A bad edit is rejected and the policy in force stays.
	writeFile(t, path, `spec:
  rateLimits:
  - {name: "bad name", key: nobody, limit: -1, period: 0s}
`)
	waitFor(t, func() bool {
		return s1.metric("redlane_config_last_reload_successful") == 0
	})
	if r := s1.do("GET", "/api/limited-endpoint", ""); r.Header.Get("RateLimit-Policy") != `"tight";q=2;w=3600` {
		t.Fatalf("rejected config changed the policy: %v", r.Header)
	}
	for _, field := range []string{"spec.rateLimits[0].name", "spec.rateLimits[0].key", "spec.rateLimits[0].limit", "spec.rateLimits[0].period"} {
		if !strings.Contains(s1.logs.String(), field) {
			t.Errorf("rejected reload does not name %s", field)
		}
	}
}

func TestRateLimitRedisDown(t *testing.T) {
	rs := redistest.Start(t)
	path := filepath.Join(t.TempDir(), "redlane.yaml")
	writeFile(t, path, `spec:
  rateLimits:
  - {name: closed, match: {pathPrefix: /api/limited}, key: ip, limit: 100, period: 1m}
  - {name: open, match: {pathPrefix: /locks/}, key: ip, limit: 100, period: 1m, failOpen: true}
`)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()}, "--config", path)
	rs.Stop()
	for i := 0; i < 8; i++ {
		if r := s.do("GET", "/api/limited-endpoint", ""); r.Status != 503 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("fail-closed policy, Redis down: %d %s", r.Status, r.Body)
		}
		// Fail open: the request goes through to the handler (which, as a
		// lock, itself fails closed with its own 503 problem).
		if r := s.do("GET", "/locks/x", ""); r.Header.Get("RateLimit") != "" || strings.Contains(string(r.Body), "rate-limit-unavailable") {
			t.Fatalf("fail-open policy refused: %d %s", r.Status, r.Body)
		}
	}
	if !strings.Contains(s.logs.String(), "circuit breaker open") {
		t.Error("breaker opening not logged")
	}
	rs.Restart()
	waitFor(t, func() bool { return s.do("GET", "/api/limited-endpoint", "").Status == 200 })
}

// TestRateLimitByUser: with key "user", each signed-in user has a limit of
// their own (the sessions middleware runs first), anonymous callers share
// their IP's.
func TestRateLimitByUser(t *testing.T) {
	rs := redistest.Start(t)
	path := filepath.Join(t.TempDir(), "redlane.yaml")
	writeFile(t, path, `spec:
  rateLimits:
  - {name: peruser, match: {pathPrefix: /api/}, key: user, limit: 2, period: 1h}
`+demoUsersSpec)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()}, "--config", path)
	s.waitStatus("/readyz", 200, readyWithin)
	count := func(headers ...string) (ok int) {
		for i := 0; i < 4; i++ {
			if s.do("GET", "/api/limited-endpoint", "", headers...).Status == 200 {
				ok++
			}
		}
		return ok
	}
	t1, r := login(t, s, "user1", "password123")
	if t1 == "" {
		t.Fatalf("login user1 = %d %s", r.Status, r.Body)
	}
	t2, _ := login(t, s, "user2", "password123")
	if n := count(bearer(t1)...); n != 2 {
		t.Fatalf("user1: %d admitted, want 2", n)
	}
	if n := count(bearer(t2)...); n != 2 {
		t.Fatalf("user2 (same IP): %d admitted, want their own 2", n)
	}
	if n := count(); n != 2 {
		t.Fatalf("anonymous: %d admitted, want the IP's 2", n)
	}
}
