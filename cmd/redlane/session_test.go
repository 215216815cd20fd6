package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/pgtest"
	"github.com/redlane/redlane/internal/redistest"
	"github.com/redlane/redlane/internal/store"
)

func login(t *testing.T, s *server, user, pass string, headers ...string) (string, response) {
	t.Helper()
	r := s.do("POST", "/auth/login", `{"username": "`+user+`", "password": "`+pass+`"}`, headers...)
	if r.Status != 200 {
		return "", r
	}
	var body struct {
		Token string `json:"session_token"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Token == "" {
		t.Fatalf("login answer has no session_token: %s", r.Body)
	}
	return body.Token, r
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// TestSeedSessionFlow is the documented curl example of sessions and its integration-test
// shape, on embedded Redis and SQLite with the demo user.
func TestSeedSessionFlow(t *testing.T) {
	s := startServer(t, map[string]string{})
	s.waitStatus("/readyz", 200, readyWithin)
	tok, r := login(t, s, "user1", "password123")
	if tok == "" {
		t.Fatalf("seed login = %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if m["expires_at"] == nil || m["user"].(map[string]any)["username"] != "user1" {
		t.Fatalf("login answer = %s", r.Body)
	}
	if strings.Contains(string(r.Body), "password") {
		t.Fatalf("login answer mentions the password hash: %s", r.Body)
	}
	if got := s.do("GET", "/auth/session", "", bearer(tok)...); got.Status != 200 {
		t.Fatalf("GET /auth/session = %d %s", got.Status, got.Body)
	}
}

func TestSessionsHTTP(t *testing.T) {
	standalone := redistest.Start(t)
	cluster := redistest.StartCluster(t, 3, 0)
	for _, mode := range []struct {
		name string
		env  map[string]string
	}{
		{"standalone+postgres", map[string]string{"REDIS_URL": standalone.URL(), "DATABASE_URL": pgtest.Database(t)}},
		{"cluster+sqlite", map[string]string{"REDIS_ADDRS": strings.Join(cluster.Addrs(), ",")}},
	} {
		t.Run(mode.name, func(t *testing.T) { testSessionsHTTP(t, mode.env) })
	}
}

func testSessionsHTTP(t *testing.T, env map[string]string) {
	cfgPath := sqliteConfig(t, filepath.Join(t.TempDir(), "users.db"),
		"  sessions: {maxPerUser: 3, loginLimits: {perUsername: 3, perIP: 100, window: 1m}}\n")
	env["ADMIN_TOKEN"] = adminToken
	prepareUsers(t, env, cfgPath)
	s := startServer(t, env, "--config", cfgPath)
	s.waitStatus("/readyz", 200, readyWithin)

	firefox := []string{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"}
	iphone := []string{"User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"}
	laptop, r := login(t, s, "alice", "alice-password-1", firefox...)
	if laptop == "" {
		t.Fatalf("login = %d %s", r.Status, r.Body)
	}
	phone, _ := login(t, s, "alice", "alice-password-1", iphone...)

	t.Run("cookie", func(t *testing.T) {
		var cookie *http.Cookie
		for _, c := range (&http.Response{Header: r.Header}).Cookies() {
			cookie = c
		}
		if cookie == nil || cookie.Name != "redlane_session" || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Value != laptop {
			t.Fatalf("plain-HTTP session cookie = %+v", cookie)
		}
		if got := s.do("GET", "/auth/session", "", "Cookie", "redlane_session="+laptop); got.Status != 200 {
			t.Fatalf("cookie auth = %d", got.Status)
		}
	})
	t.Run("list marks the current device", func(t *testing.T) {
		got := s.do("GET", "/auth/sessions", "", bearer(phone)...)
		var body struct {
			Sessions []struct {
				ID      string `json:"id"`
				Device  string `json:"device"`
				Browser string `json:"browser"`
				Current bool   `json:"current"`
			} `json:"sessions"`
		}
		if err := json.Unmarshal(got.Body, &body); err != nil || len(body.Sessions) != 2 {
			t.Fatalf("sessions = %s", got.Body)
		}
		if body.Sessions[0].Current || !body.Sessions[1].Current || body.Sessions[1].Device != "mobile" || body.Sessions[0].Browser != "Firefox" {
			t.Fatalf("sessions = %s", got.Body)
		}
		if strings.Contains(string(got.Body), laptop) || strings.Contains(string(got.Body), phone) {
			t.Fatal("a listing shows a token")
		}
		laptopID := body.Sessions[0].ID
		if got := s.do("DELETE", "/auth/sessions/"+body.Sessions[1].ID, "", bearer(phone)...); got.Status != 400 {
			t.Fatalf("revoking the current session = %d", got.Status)
		}
		if got := s.do("DELETE", "/auth/sessions/ffffffffffffffffffffffff", "", bearer(phone)...); got.Status != 404 {
			t.Fatalf("revoking an unknown session = %d", got.Status)
		}
		if got := s.do("DELETE", "/auth/sessions/not-an-id", "", bearer(phone)...); got.Status != 400 || !strings.Contains(string(got.Body), `"field":"id"`) {
			t.Fatalf("revoking a garbled id = %d %s", got.Status, got.Body)
		}
		if got := s.do("DELETE", "/auth/sessions/"+laptopID, "", bearer(phone)...); got.Status != 204 {
			t.Fatalf("revoking the laptop = %d %s", got.Status, got.Body)
		}
		if got := s.do("GET", "/auth/session", "", bearer(laptop)...); got.Status != 401 {
			t.Fatalf("revoked laptop session still works: %d", got.Status)
		}
	})
	t.Run("revoke all others and logout", func(t *testing.T) {
		a, _ := login(t, s, "alice", "alice-password-1")
		b, _ := login(t, s, "alice", "alice-password-1")
		got := s.do("DELETE", "/auth/sessions", "", bearer(b)...)
		if got.Status != 200 || !strings.Contains(string(got.Body), `"revoked":2`) {
			t.Fatalf("revoke others = %d %s", got.Status, got.Body)
		}
		for _, tok := range []string{a, phone} {
			if s.do("GET", "/auth/session", "", bearer(tok)...).Status != 401 {
				t.Fatal("a revoked session still works")
			}
		}
		if got := s.do("POST", "/auth/logout", "", bearer(b)...); got.Status != 200 {
			t.Fatalf("logout = %d", got.Status)
		}
		if s.do("GET", "/auth/session", "", bearer(b)...).Status != 401 {
			t.Fatal("session works after logout")
		}
	})
	t.Run("cap evicts the oldest", func(t *testing.T) {
		var toks []string
		for i := 0; i < 4; i++ {
			tok, _ := login(t, s, "bob", "bob-password-1")
			toks = append(toks, tok)
			time.Sleep(2 * time.Millisecond)
		}
		if s.do("GET", "/auth/session", "", bearer(toks[0])...).Status != 401 || s.do("GET", "/auth/session", "", bearer(toks[3])...).Status != 200 {
			t.Fatal("fourth login with maxPerUser 3 did not evict the oldest session")
		}
	})
	t.Run("bad input changes nothing", func(t *testing.T) {
		cases := []struct {
			name, method, path, body string
			headers                  []string
			want                     int
			field                    string
		}{
			{"malformed json", "POST", "/auth/login", `{"username": "alice",`, nil, 400, ""},
			{"unknown field", "POST", "/auth/login", `{"username":"alice","password":"x","remember":true}`, nil, 400, "remember"},
			{"empty password", "POST", "/auth/login", `{"username":"alice","password":""}`, nil, 422, "password"},
			{"missing username", "POST", "/auth/login", `{"password":"x"}`, nil, 422, "username"},
			{"wrong type", "POST", "/auth/login", `{"username":5,"password":"x"}`, nil, 400, "username"},
			{"no token", "GET", "/auth/session", "", nil, 401, ""},
			{"garbled token", "GET", "/auth/session", "", bearer("rls_garbage"), 401, ""},
			{"not bearer", "GET", "/auth/session", "", []string{"Authorization", "Basic dXNlcjpwYXNz"}, 401, ""},
			{"oversized token", "GET", "/auth/session", "", bearer(strings.Repeat("a", 8000)), 401, ""},
			{"unknown user", "POST", "/auth/login", `{"username":"nobody","password":"x"}`, nil, 401, ""},
		}
		before := s.do("GET", "/auth/analytics", "", adminAuth...).JSON(t)["active_sessions"]
		for _, tc := range cases {
			got := s.do(tc.method, tc.path, tc.body, tc.headers...)
			if got.Status != tc.want || got.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s: %d %s, want %d problem", tc.name, got.Status, got.Body, tc.want)
			}
			if tc.field != "" && !strings.Contains(string(got.Body), `"field":"`+tc.field+`"`) {
				t.Errorf("%s: problem does not name %s: %s", tc.name, tc.field, got.Body)
			}
		}
		if after := s.do("GET", "/auth/analytics", "", adminAuth...).JSON(t)["active_sessions"]; after != before {
			t.Errorf("bad requests changed the active sessions: %v -> %v", before, after)
		}
		wrong := s.do("POST", "/auth/login", `{"username":"alice","password":"wrong"}`)
		unknown := s.do("POST", "/auth/login", `{"username":"nobody2","password":"wrong"}`)
		if wrong.JSON(t)["detail"] != unknown.JSON(t)["detail"] {
			t.Error("a wrong password and an unknown user are told apart")
		}
	})
	t.Run("failed logins are limited", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			s.do("POST", "/auth/login", `{"username":"carol","password":"wrong"}`)
		}
		got := s.do("POST", "/auth/login", `{"username":"carol","password":"carol-password-1"}`)
		if got.Status != 429 || got.Header.Get("Retry-After") == "" {
			t.Fatalf("login after 3 failures = %d (Retry-After %q)", got.Status, got.Header.Get("Retry-After"))
		}
	})
	t.Run("admin analytics", func(t *testing.T) {
		user, _ := login(t, s, "bob", "bob-password-1")
		if got := s.do("GET", "/auth/analytics", "", bearer(user)...); got.Status != 403 {
			t.Fatalf("analytics for a normal user = %d", got.Status)
		}
		if got := s.do("GET", "/auth/analytics", ""); got.Status != 401 {
			t.Fatalf("anonymous analytics = %d", got.Status)
		}
		admin, _ := login(t, s, "root", "root-password-1")
		got := s.do("GET", "/auth/analytics?window=1h&interval=5m", "", bearer(admin)...)
		m := got.JSON(t)
		if got.Status != 200 || m["active_users"] == nil || m["total_failed_logins"].(float64) < 3 || len(m["logins"].([]any)) < 12 {
			t.Fatalf("analytics = %d %s", got.Status, got.Body)
		}
		if got := s.do("GET", "/auth/analytics?interval=7s", "", bearer(admin)...); got.Status != 400 {
			t.Fatalf("bad interval = %d", got.Status)
		}
	})
	t.Run("a password change or deletion ends the user's sessions", func(t *testing.T) {
		tok, r := login(t, s, "bob", "bob-password-1")
		id := fmt.Sprint(r.JSON(t)["user"].(map[string]any)["id"])
		if got := s.do("PATCH", "/users/"+id, `{"password":"bob-password-2"}`, adminAuth...); got.Status != 200 {
			t.Fatalf("password change = %d %s", got.Status, got.Body)
		}
		if got := s.do("GET", "/auth/session", "", bearer(tok)...); got.Status != 401 {
			t.Fatalf("session after a password change = %d", got.Status)
		}
		tok, _ = login(t, s, "bob", "bob-password-2")
		if tok == "" {
			t.Fatal("new password does not log in")
		}
		if got := s.do("DELETE", "/users/"+id, "", adminAuth...); got.Status != 204 {
			t.Fatalf("delete = %d %s", got.Status, got.Body)
		}
		if got := s.do("GET", "/auth/session", "", bearer(tok)...); got.Status != 401 {
			t.Fatalf("session of a deleted user = %d", got.Status)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		body := string(s.do("GET", "/metrics", "").Body)
		for _, want := range []string{`redlane_session_logins_total{result="success"}`, `redlane_session_logins_total{result="locked"} 1`,
			`redlane_session_lookups_total{result="valid"}`, "redlane_sessions_active"} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// prepareUsers creates alice, bob, carol and an admin, root, in the
// database the server will use.
func prepareUsers(t *testing.T, env map[string]string, cfgPath string) {
	t.Helper()
	c, err := config.Load(cfgPath, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, c.Spec.Database, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, u := range []store.NewUser{
		{Username: "alice", Email: "alice@example.com", Password: "alice-password-1", Role: "user"},
		{Username: "bob", Email: "bob@example.com", Password: "bob-password-1", Role: "user"},
		{Username: "carol", Email: "carol@example.com", Password: "carol-password-1", Role: "user"},
		{Username: "root", Email: "root@example.com", Password: "root-password-1", Role: "admin"},
	} {
		if _, err := db.Create(ctx, u); err != nil {
			t.Fatalf("creating %s: %v", u.Username, err)
		}
	}
}

func TestSessionsFailClosedWhenRedisIsDown(t *testing.T) {
	rs := redistest.Start(t)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()}, withDemoUsers(t)...)
	s.waitStatus("/readyz", 200, readyWithin)
	tok, _ := login(t, s, "user1", "password123")
	rs.Stop()
	got := s.do("GET", "/auth/session", "", bearer(tok)...)
	if got.Status != 503 || got.Header.Get("Retry-After") == "" {
		t.Fatalf("session check with Redis down = %d %s", got.Status, got.Body)
	}
	if got := s.do("POST", "/auth/login", `{"username":"user1","password":"password123"}`); got.Status != 503 {
		t.Fatalf("login with Redis down = %d %s", got.Status, got.Body)
	}
	rs.Restart() // a crash loses the sessions (no persistence in the test server): log in again
	waitFor(t, func() bool { tok2, _ := login(t, s, "user1", "password123"); return tok2 != "" })
}

// TestSessionsFailFastWhenRedisPauses: with Redis paused (it keeps its
// connections and answers nothing), a request's session work waits for
// Redis at most spec.redis.commandTimeout in all, then answers 503, however
// many commands it makes: before the budget, a login carrying a token took
// three timeouts (the token check, the failed-login limit, the login).
func TestSessionsFailFastWhenRedisPauses(t *testing.T) {
	rs := redistest.Start(t)
	const budget = time.Second
	cfg := filepath.Join(t.TempDir(), "redlane.yaml")
	writeFile(t, cfg, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  redis: {commandTimeout: 1s}\n"+demoUsersSpec)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()}, "--config", cfg)
	s.waitStatus("/readyz", 200, readyWithin)
	tok, _ := login(t, s, "user1", "password123")
	rs.Pause()
	t.Cleanup(rs.Resume)
	body := `{"username":"user1","password":"password123"}`
	for _, tc := range []struct {
		name, method, path, body string
		headers                  []string
	}{
		{"login carrying a token", "POST", "/auth/login", body, bearer(tok)},
		{"login", "POST", "/auth/login", body, nil},
		{"session check", "GET", "/auth/session", "", bearer(tok)},
		{"session list", "GET", "/auth/sessions", "", bearer(tok)},
	} {
		start := time.Now()
		r := s.do(tc.method, tc.path, tc.body, tc.headers...)
		took := time.Since(start)
		t.Logf("%s with Redis paused: %d after %s", tc.name, r.Status, took.Round(time.Millisecond))
		if r.Status != 503 || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s with Redis paused = %d %s, want 503 with Retry-After", tc.name, r.Status, r.Body)
		}
		if took > budget+800*time.Millisecond {
			t.Errorf("%s waited %s for a paused Redis; the budget is %s", tc.name, took, budget)
		}
	}
}
