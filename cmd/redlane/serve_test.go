package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/redistest"
)

const adminToken = "test-admin-token-0123456789abcdef0123"

func TestServeAgainstRealRedis(t *testing.T) {
	rs := redistest.Start(t, redistest.WithPassword("redis-pass-1"))
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL(), "ADMIN_TOKEN": adminToken, "SECRET_KEY": strings.Repeat("s", 40)})
	s.waitStatus("/readyz", 200, readyWithin)

	t.Run("health in the shape FastAPI clients read", func(t *testing.T) {
		r := s.do("GET", "/health", "")
		if r.Status != 200 || strings.TrimSpace(string(r.Body)) != `{"status":"healthy","redis":"connected"}` {
			t.Fatalf("GET /health = %d %s", r.Status, r.Body)
		}
	})
	t.Run("liveness", func(t *testing.T) {
		if r := s.do("GET", "/healthz", ""); r.Status != 200 {
			t.Fatalf("GET /healthz = %d", r.Status)
		}
	})
	t.Run("request id is made or echoed", func(t *testing.T) {
		if r := s.do("GET", "/healthz", ""); len(r.Header.Get("X-Request-ID")) < 16 {
			t.Fatalf("no generated request id: %q", r.Header.Get("X-Request-ID"))
		}
		if r := s.do("GET", "/healthz", "", "X-Request-ID", "abc-123"); r.Header.Get("X-Request-ID") != "abc-123" {
			t.Fatalf("request id not echoed: %q", r.Header.Get("X-Request-ID"))
		}
		if r := s.do("GET", "/healthz", "", "X-Request-ID", "bad id with spaces"); r.Header.Get("X-Request-ID") == "bad id with spaces" {
			t.Fatal("unsafe request id echoed")
		}
	})
	t.Run("unknown route is a problem", func(t *testing.T) {
		r := s.do("GET", "/no/such/route", "", "X-Request-ID", "rid-404")
		m := r.JSON(t)
		if r.Status != 404 || r.Header.Get("Content-Type") != "application/problem+json" ||
			m["type"] != "https://redlane.dev/problems/not-found" || m["requestId"] != "rid-404" {
			t.Fatalf("404 = %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
	})
	t.Run("wrong method is a problem", func(t *testing.T) {
		r := s.do("DELETE", "/health", "")
		if r.Status != 405 || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("405 = %d %s", r.Status, r.Body)
		}
	})
	t.Run("admin needs the token", func(t *testing.T) {
		if r := s.do("GET", "/admin/config", ""); r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("anonymous admin = %d %s", r.Status, r.Body)
		}
		if r := s.do("GET", "/admin/config", "", "Authorization", "Bearer wrong-token-wrong-token-wrong-token"); r.Status != 401 {
			t.Fatalf("wrong token admin = %d", r.Status)
		}
		r := s.do("GET", "/admin/config", "", "Authorization", "Bearer "+adminToken)
		if r.Status != 200 {
			t.Fatalf("admin with token = %d %s", r.Status, r.Body)
		}
		for _, secret := range []string{"redis-pass-1", adminToken, strings.Repeat("s", 40)} {
			if bytes.Contains(r.Body, []byte(secret)) {
				t.Fatalf("/admin/config shows a secret: %s", r.Body)
			}
		}
		if !bytes.Contains(r.Body, []byte(rs.Addr())) || !bytes.Contains(r.Body, []byte(`"generation":1`)) {
			t.Fatalf("/admin/config lacks the redis address or generation: %s", r.Body)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		r := s.do("GET", "/metrics", "")
		for _, name := range []string{
			`redlane_http_requests_total{code="200",method="GET",route="/health"}`,
			`redlane_http_requests_total{code="404",method="GET",route="unmatched"}`,
			"redlane_http_request_duration_seconds_bucket", "redlane_redis_pool_hits_total",
			"redlane_redis_pool_timeouts_total", "redlane_redis_pool_connections", "redlane_redis_pool_idle_connections",
			`redlane_redis_memory_used_bytes{node="` + rs.Addr() + `"}`, "redlane_redis_memory_max_bytes",
			"redlane_redis_evicted_keys_total", "redlane_redis_expired_keys_total", "redlane_redis_keyspace_hits_total",
			"redlane_redis_keyspace_misses_total", "redlane_redis_connected_clients", "redlane_redis_blocked_clients",
			"redlane_redis_commands_processed_total", "redlane_redis_ops_per_second", "redlane_redis_uptime_seconds",
			`role="master"`, "redlane_build_info",
		} {
			if !bytes.Contains(r.Body, []byte(name)) {
				t.Errorf("/metrics lacks %s", name)
			}
		}
		if v, ok := seriesValue(string(r.Body), "redlane_config_last_reload_successful"); !ok || v != 1 {
			t.Errorf("redlane_config_last_reload_successful = %v (present %v), want 1", v, ok)
		}
	})
	t.Run("promtool check metrics", func(t *testing.T) {
		redistest.Require(t, "promtool")
		r := s.do("GET", "/metrics", "")
		cmd := exec.Command("promtool", "check", "metrics")
		cmd.Stdin = bytes.NewReader(r.Body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	})
}

// TestDemoUsersOnlyWhenAllEmbeddedOrAsked: demo users have a public password.
// A server on a real Redis with the embedded SQLite (what each pod of a
// chart without a database was) has none unless spec.database.seedUsers asks
// for them, and its log says loudly that its users are its own while the
// cache is shared; when they are asked for, the log says who can sign in.
func TestDemoUsersOnlyWhenAllEmbeddedOrAsked(t *testing.T) {
	rs := redistest.Start(t)
	env := map[string]string{"REDIS_URL": rs.URL()}
	plain := startServer(t, env)
	asked := startServer(t, env, withDemoUsers(t)...)
	plain.waitStatus("/readyz", 200, readyWithin)
	asked.waitStatus("/readyz", 200, readyWithin)

	if _, r := login(t, plain, "user1", "password123"); r.Status != 401 {
		t.Errorf("demo login on a real Redis, unasked = %d %s, want 401", r.Status, r.Body)
	}
	if r := plain.do("GET", "/users/1", ""); r.Status != 404 {
		t.Errorf("GET /users/1 on a real Redis, unasked = %d %s, want 404", r.Status, r.Body)
	}
	for _, want := range []string{"EMBEDDED DATABASE", "private to this process while Redis is shared", `"demo_users":0`} {
		if !strings.Contains(plain.logs.String(), want) {
			t.Errorf("log of the unasked server lacks %q:\n%s", want, plain.logs.String())
		}
	}
	if strings.Contains(plain.logs.String(), "DEMO USERS") {
		t.Errorf("the unasked server warns of demo users it does not have:\n%s", plain.logs.String())
	}

	if tok, r := login(t, asked, "user300", "password123"); tok == "" {
		t.Errorf("demo login when asked = %d %s", r.Status, r.Body)
	}
	if !strings.Contains(asked.logs.String(), "DEMO USERS") {
		t.Errorf("no DEMO USERS warning when they are asked for on a real Redis:\n%s", asked.logs.String())
	}
}

func TestReadinessFollowsRedis(t *testing.T) {
	rs := redistest.Start(t)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()})
	s.waitStatus("/readyz", 200, readyWithin)

	rs.Stop()
	r := s.waitStatus("/readyz", 503, 5*time.Second)
	if !bytes.Contains(r.Body, []byte(`"redis"`)) {
		t.Errorf("503 body does not name the failing check: %s", r.Body)
	}
	h := s.do("GET", "/health", "")
	m := h.JSON(t)
	if h.Status != 503 || m["status"] != "unhealthy" || m["redis"] != "disconnected" || m["error"] == "" {
		t.Fatalf("/health with Redis down = %d %s", h.Status, h.Body)
	}
	if s.do("GET", "/healthz", "").Status != 200 {
		t.Fatal("liveness must not depend on Redis")
	}

	rs.Restart()
	s.waitStatus("/readyz", 200, readyWithin)
	if h := s.do("GET", "/health", ""); h.Status != 200 {
		t.Fatalf("/health after Redis returned = %d", h.Status)
	}
}

func TestServeRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	s := startServer(t, map[string]string{"REDIS_ADDRS": strings.Join(c.Addrs(), ",")})
	s.waitStatus("/readyz", 200, readyWithin)
	if r := s.do("GET", "/health", ""); r.Status != 200 {
		t.Fatalf("/health = %d %s", r.Status, r.Body)
	}
	body := string(s.do("GET", "/metrics", "").Body)
	for _, a := range c.Addrs() {
		if !strings.Contains(body, `redlane_redis_memory_used_bytes{node="`+a+`"}`) {
			t.Errorf("no INFO metrics for cluster node %s", a)
		}
	}
	if !strings.Contains(body, `mode="cluster"`) {
		t.Error("instance info does not say cluster mode")
	}
}

func TestEmbeddedDevelopmentMode(t *testing.T) {
	s := startServer(t, map[string]string{})
	s.waitStatus("/readyz", 200, readyWithin)
	for _, loud := range []string{"EMBEDDED REDIS", "EMBEDDED DATABASE"} {
		if !strings.Contains(s.logs.String(), loud) {
			t.Fatalf("no loud %s line in the log:\n%s", loud, s.logs.String())
		}
	}
	// README's first command: the demo users work with no configuration.
	if tok, r := login(t, s, "user300", "password123"); tok == "" {
		t.Fatalf("demo user login in the all-embedded mode = %d %s", r.Status, r.Body)
	}
	if r := s.do("GET", "/health", ""); r.Status != 200 {
		t.Fatalf("/health = %d", r.Status)
	}
	// Admin endpoints are open in development mode only.
	if r := s.do("GET", "/admin/config", ""); r.Status != 200 {
		t.Fatalf("admin in dev mode = %d", r.Status)
	}
	if !strings.Contains(string(s.do("GET", "/metrics", "").Body), `redlane_redis_up{node="embedded"} 1`) {
		t.Error("embedded INFO metrics missing")
	}
}

// TestDevModeStaysPrivate: the development mode listens on loopback when
// no host is given, says whether admin is open, and requires an admin token
// that is set, like every other mode.
func TestDevModeStaysPrivate(t *testing.T) {
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	t.Run("loopback unless a host is given, admin open without a token", func(t *testing.T) {
		s := startServerAt(t, addr, map[string]string{}, "--address", ":"+port)
		logs := s.logs.String()
		if !strings.Contains(logs, "listening on loopback only") || !strings.Contains(logs, `"addr":"127.0.0.1:`+port+`"`) ||
			!strings.Contains(logs, "admin endpoints are OPEN") {
			t.Fatalf("the log does not say the dev server is on loopback with admin open:\n%s", logs)
		}
		if r := s.do("GET", "/admin/config", ""); r.Status != 200 {
			t.Fatalf("admin in dev mode without a token = %d", r.Status)
		}
		if ip := nonLoopbackIP(); ip != "" {
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), time.Second); err == nil {
				c.Close()
				t.Fatalf("the dev server answers on %s, not only on loopback", ip)
			}
		} else {
			t.Log("no non-loopback address on this machine: only the log line is checked")
		}
	})
	t.Run("a set admin token is required", func(t *testing.T) {
		s := startServer(t, map[string]string{"ADMIN_TOKEN": adminToken})
		if !strings.Contains(s.logs.String(), "admin endpoints require the admin token") {
			t.Errorf("the log does not say admin needs the token:\n%s", s.logs.String())
		}
		if r := s.do("GET", "/admin/config", ""); r.Status != 401 {
			t.Fatalf("anonymous GET /admin/config with a token set = %d %s", r.Status, r.Body)
		}
		if r := s.do("POST", "/users", `{"username":"mallory","email":"m@example.com","password":"longenough1","role":"admin"}`); r.Status != 401 {
			t.Fatalf("anonymous POST /users with a token set = %d %s", r.Status, r.Body)
		}
		if r := s.do("GET", "/admin/config", "", "Authorization", "Bearer "+adminToken); r.Status != 200 {
			t.Fatalf("GET /admin/config with the token = %d", r.Status)
		}
	})
}

// nonLoopbackIP is an IPv4 address of this machine that is not loopback, or "".
func nonLoopbackIP() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

func TestAdminClosedWithoutTokenOutsideDevMode(t *testing.T) {
	rs := redistest.Start(t)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()})
	r := s.do("GET", "/admin/config", "")
	if r.Status != 401 || !bytes.Contains(r.Body, []byte("ADMIN_TOKEN")) {
		t.Fatalf("admin with no token configured = %d %s", r.Status, r.Body)
	}
}

// TestViewerTokenOnlyReads: spec.security.viewerToken (VIEWER_TOKEN) reads
// every admin endpoint that only reads and changes nothing: a change is a
// 403 read-only, and the state is as before. In the embedded development
// mode a viewer token alone closes admin to anonymous callers too.
func TestViewerTokenOnlyReads(t *testing.T) {
	rs := redistest.Start(t)
	viewer := strings.Repeat("v", 40)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL(), "ADMIN_TOKEN": adminToken, "VIEWER_TOKEN": viewer})
	s.waitStatus("/readyz", 200, readyWithin)
	v := []string{"Authorization", "Bearer " + viewer}
	expect(t, "enqueue", s.do("POST", "/queues/viewer/tasks", `{"payload":1}`), 201)
	for _, path := range []string{"/admin/config", "/queues", "/queues/viewer/dead", "/admin/redis", "/admin/users/1/sessions", "/schedules"} {
		expect(t, "viewer GET "+path, s.do("GET", path, "", v...), 200)
	}
	for _, c := range [][3]string{
		{"POST", "/queues/viewer/pause", ""},
		{"POST", "/admin/config/reload", ""},
		{"DELETE", "/admin/users/1/sessions", ""},
		{"POST", "/cache/clear", `{"pattern":"user:*"}`},
	} {
		r := s.do(c[0], c[1], c[2], v...)
		if r.Status != 403 || !strings.Contains(string(r.Body), "read-only") {
			t.Errorf("viewer %s %s = %d %s, want 403 read-only", c[0], c[1], r.Status, r.Body)
		}
	}
	if body := string(s.do("GET", "/queues/viewer", "").Body); !strings.Contains(body, `"paused":false`) {
		t.Fatalf("a refused pause changed the queue: %s", body)
	}
	expect(t, "anonymous", s.do("GET", "/queues", ""), 401)
	expect(t, "admin pause", s.do("POST", "/queues/viewer/pause", "", "Authorization", "Bearer "+adminToken), 200)

	dev := startServer(t, map[string]string{"VIEWER_TOKEN": viewer})
	expect(t, "dev mode, anonymous, with a viewer token set", dev.do("GET", "/admin/config", ""), 401)
	expect(t, "dev mode, viewer", dev.do("GET", "/admin/config", "", v...), 200)
}

func TestConfigReloadThroughServer(t *testing.T) {
	rs := redistest.Start(t)
	path := filepath.Join(t.TempDir(), "redlane.yaml")
	writeFile(t, path, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  log: {level: info}\n  cache: {defaultTTL: 5m}\n")
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL(), "ADMIN_TOKEN": adminToken}, "--config", path)
	auth := []string{"Authorization", "Bearer " + adminToken}

	writeFile(t, path, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  log: {level: debug}\n  cache: {defaultTTL: 90s}\n")
	waitFor(t, func() bool {
		return bytes.Contains(s.do("GET", "/admin/config", "", auth...).Body, []byte(`"generation":2`))
	})
	body := string(s.do("GET", "/admin/config", "", auth...).Body)
	if !strings.Contains(body, `"defaultTTL":"1m30s"`) || !strings.Contains(body, `"level":"debug"`) {
		t.Fatalf("reloaded values not in effect: %s", body)
	}

	writeFile(t, path, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  cache: {defaultTTL: soon}\n")
	waitFor(t, func() bool {
		return s.metric("redlane_config_last_reload_successful") == 0
	})
	body = string(s.do("GET", "/admin/config", "", auth...).Body)
	if !strings.Contains(body, "spec.cache.defaultTTL") || !strings.Contains(body, `"defaultTTL":"1m30s"`) || !strings.Contains(body, `"generation":2`) {
		t.Fatalf("bad reload should keep generation 2 and report the field: %s", body)
	}
	if !strings.Contains(s.logs.String(), "config reload rejected") {
		t.Error("rejected reload not logged")
	}
}

// TestDotEnvReloadThroughServer: the .env file is watched like the config
// file, and a change to it is read again, not only noticed.
func TestDotEnvReloadThroughServer(t *testing.T) {
	rs := redistest.Start(t)
	envFile := filepath.Join(t.TempDir(), "redlane.env")
	writeFile(t, envFile, "CACHE_TTL=120\n")
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL(), "ADMIN_TOKEN": adminToken}, "--env-file", envFile)
	auth := []string{"Authorization", "Bearer " + adminToken}
	if body := s.do("GET", "/admin/config", "", auth...).Body; !bytes.Contains(body, []byte(`"defaultTTL":"2m"`)) {
		t.Fatalf(".env not read at start: %s", body)
	}
	writeFile(t, envFile, "CACHE_TTL=90\n")
	waitFor(t, func() bool {
		return bytes.Contains(s.do("GET", "/admin/config", "", auth...).Body, []byte(`"generation":2`))
	})
	if body := s.do("GET", "/admin/config", "", auth...).Body; !bytes.Contains(body, []byte(`"defaultTTL":"1m30s"`)) {
		t.Fatalf("changed .env not in effect after the reload: %s", body)
	}
}

func TestInvalidConfigRefusesToStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, path, "spec:\n  redis: {port: 99999}\n  cache: {defaultTTL: -1s}\n")
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"redlane", "serve", "--config", path}, func(string) string { return "" }, io.Discard, &stderr)
	if err == nil {
		t.Fatal("serve started with an invalid config")
	}
	for _, want := range []string{"spec.redis.port", "spec.cache.defaultTTL"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not name %s:\n%s", want, stderr.String())
		}
	}
}

func TestGracefulShutdown(t *testing.T) {
	rs := redistest.Start(t)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()})
	s.waitStatus("/readyz", 200, readyWithin)

	// A long-poll claim stays in flight for its whole wait (2s) and then
	// answers 200 with no tasks.
	inflight := make(chan response, 1)
	go func() {
		resp, err := http.Post(s.URL+"/queues/shutdown-test/claim", "application/json", strings.NewReader(`{"wait":"2s"}`))
		if err != nil {
			inflight <- response{Status: -1, Body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		inflight <- response{Status: resp.StatusCode, Body: b}
	}()
	// The claim is in flight (the scrape that asks is the other one).
	waitFor(t, func() bool { return s.metric("redlane_http_requests_in_flight") >= 2 })
	s.cancel()
	s.cancel = nil
	r := <-inflight
	if r.Status != 200 || !strings.Contains(string(r.Body), `"tasks":[]`) {
		t.Fatalf("in-flight request was not allowed to finish: %d %s", r.Status, r.Body)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(s.logs.String(), "readiness off") {
		t.Error("shutdown did not turn readiness off first")
	}
}

func TestDrainDelayKeepsServingWhileNotReady(t *testing.T) {
	rs := redistest.Start(t)
	path := filepath.Join(t.TempDir(), "c.yaml")
	writeFile(t, path, "spec:\n  server: {drainDelay: 1s}\n")
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()}, "--config", path)
	s.waitStatus("/readyz", 200, readyWithin)
	cancel := s.cancel
	s.cancel = nil
	cancel()
	r := s.waitStatus("/readyz", 503, 900*time.Millisecond)
	if !bytes.Contains(r.Body, []byte(`"draining":true`)) {
		t.Fatalf("draining not reported: %s", r.Body)
	}
	if err := <-s.done; err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestPprofAddressServesProfilesApart: --pprof-address serves net/http/pprof
// on its own listener, not on the API's, and stops with the server.
func TestPprofAddressServesProfilesApart(t *testing.T) {
	rs := redistest.Start(t)
	pprofAddr := freeAddr(t)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()}, "--pprof-address", pprofAddr)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1"} {
		resp, err := http.Get("http://" + pprofAddr + path)
		if err != nil {
			t.Fatalf("GET %s on the pprof address: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s on the pprof address = %d", path, resp.StatusCode)
		}
	}
	if r := s.do("GET", "/debug/pprof/", ""); r.Status == 200 {
		t.Error("pprof is served on the API listener too")
	}
	s.stop()
	if resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/"); err == nil {
		resp.Body.Close()
		t.Error("pprof listener still open after serve stopped")
	}
}
