package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// feature drives one feature's traffic for the dashboards test. area is the
// metric area its panels read (redlane_<area>_*). drive returns false when
// the server has no route for the feature (not in this build): its panels
// then cannot have data, and the dashboards test says so.
type feature struct {
	area  string
	drive func(t *testing.T, s *server, round int) bool
}

// features lists every feature's traffic, merged or not: a driver whose
// routes are missing answers false instead of failing, so this file needs
// no change when a feature merges.
func features(configPath string) []feature {
	return []feature{
		{"http", driveHTTP},
		{"config", func(t *testing.T, s *server, round int) bool { return driveConfig(t, s, configPath, round) }},
		{"session", driveSessions},
		{"ratelimit", driveRateLimit},
		{"lock", driveLocks},
		{"cache", driveCache},
		{"realtime", driveRealtime},
		{"queue", driveQueue},
		{"leaderboard", driveLeaderboard},
	}
}

// noRoute is how the router answers a path no route matches.
func noRoute(r response) bool {
	return r.Status == 404 && strings.Contains(string(r.Body), "No route for")
}

// expect fails the test unless r has one of the statuses.
func expect(t *testing.T, what string, r response, statuses ...int) {
	t.Helper()
	for _, st := range statuses {
		if r.Status == st {
			return
		}
	}
	t.Fatalf("%s = %d %s, want %v", what, r.Status, r.Body, statuses)
}

func driveHTTP(t *testing.T, s *server, _ int) bool {
	expect(t, "GET /health", s.do("GET", "/health", ""), 200)
	expect(t, "GET /healthz", s.do("GET", "/healthz", ""), 200)
	expect(t, "GET /readyz", s.do("GET", "/readyz", ""), 200)
	expect(t, "GET /no/such/route", s.do("GET", "/no/such/route", ""), 404)
	return true
}

// driveConfig changes a hot setting once, so the generation moves.
func driveConfig(t *testing.T, s *server, path string, round int) bool {
	if round > 0 {
		return true
	}
	writeFile(t, path, dashboardsConfig("6m"))
	waitFor(t, func() bool { // the file is checked every 50ms (startServer)
		return s.metric("redlane_config_generation") == 2
	})
	return true
}

func driveSessions(t *testing.T, s *server, round int) bool {
	r := s.do("POST", "/auth/login", `{"username":"user1","password":"password123"}`)
	if noRoute(r) {
		return false
	}
	expect(t, "login user1", r, 200)
	var ans struct {
		Token string `json:"session_token"`
	}
	if err := json.Unmarshal(r.Body, &ans); err != nil || ans.Token == "" {
		t.Fatalf("login answer %s", r.Body)
	}
	expect(t, "GET /auth/session", s.do("GET", "/auth/session", "", bearer(ans.Token)...), 200)
	expect(t, "GET /auth/session with a forged token", s.do("GET", "/auth/session", "", bearer("forged")...), 401)
	if round < 10 { // a different unknown user each time; 429 once the failure limits lock it out
		expect(t, "login with a bad password", s.do("POST", "/auth/login",
			fmt.Sprintf(`{"username":"nobody%d","password":"wrong-password"}`, round)), 401, 429)
	}
	expect(t, "logout", s.do("POST", "/auth/logout", "", bearer(ans.Token)...), 200, 204)
	return true
}

func driveRateLimit(t *testing.T, s *server, _ int) bool {
	for i := 0; i < 6; i++ { // the default policy allows 5 per minute
		r := s.do("GET", "/api/limited-endpoint", "")
		if noRoute(r) {
			return false
		}
		expect(t, "GET /api/limited-endpoint", r, 200, 429)
	}
	return true
}

func driveLocks(t *testing.T, s *server, _ int) bool {
	r := s.do("POST", "/locks/dashboards", `{"ttl":"5s"}`)
	if noRoute(r) {
		return false
	}
	expect(t, "acquire", r, 201)
	l := decodeInto[lockAnswer](t, r)
	expect(t, "extend", s.do("PUT", "/locks/dashboards", `{"token":"`+l.Token+`","ttl":"5s"}`), 200)
	expect(t, "release with a wrong token", s.do("DELETE", "/locks/dashboards", `{"token":"wrong"}`), 409)
	expect(t, "release", s.do("DELETE", "/locks/dashboards", `{"token":"`+l.Token+`"}`), 200, 204)
	return true
}

// driveCache reads a demo user twice (miss, then hit) and one that does
// not exist (a negative entry).
func driveCache(t *testing.T, s *server, _ int) bool {
	if noRoute(s.do("GET", "/cache/stats", "")) {
		return false
	}
	expect(t, "GET /users/1", s.do("GET", "/users/1", ""), 200)
	expect(t, "GET /users/1 again", s.do("GET", "/users/1", ""), 200)
	expect(t, "GET /users/999999", s.do("GET", "/users/999999", ""), 404)
	return true
}

// driveRealtime joins a room over WebSocket, posts over HTTP and over the
// socket, and reads both messages back. A join the server asks to retry
// (close 1013, subscription not confirmed in time) is retried.
func driveRealtime(t *testing.T, s *server, round int) bool {
	if noRoute(s.do("GET", "/chat/rooms", "")) {
		return false
	}
	for attempt := 1; ; attempt++ {
		err := chatRound(t, s, round)
		if err == nil {
			return true
		}
		if !websocket.IsCloseError(err, websocket.CloseTryAgainLater) || attempt == 3 {
			t.Fatalf("chat: %v", err)
		}
	}
}

func chatRound(t *testing.T, s *server, round int) error {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/ws/chat/dashboards", nil)
	if err != nil {
		return fmt.Errorf("dial /ws/chat/dashboards: %w (%v)", err, resp)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	readUntil := func(typ string) error {
		for {
			var f map[string]any
			if err := c.ReadJSON(&f); err != nil {
				return fmt.Errorf("waiting for a %q frame: %w", typ, err)
			}
			if f["type"] == typ {
				return nil
			}
		}
	}
	if err := readUntil("joined"); err != nil {
		return err
	}
	expect(t, "POST /chat/message", s.do("POST", "/chat/message",
		fmt.Sprintf(`{"room":"dashboards","message":"hello %d"}`, round)), 200)
	if err := readUntil("message"); err != nil {
		return err
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("hi from the socket")); err != nil {
		return err
	}
	return readUntil("message")
}

// driveQueue completes one task and dead-letters another.
func driveQueue(t *testing.T, s *server, _ int) bool {
	r := s.do("POST", "/queues/dashboards/tasks", `{"payload":{"n":1}}`)
	if noRoute(r) {
		return false
	}
	expect(t, "enqueue", r, 201)
	claim := func() (id, receipt string) {
		t.Helper()
		r := s.do("POST", "/queues/dashboards/claim", `{"visibilityTimeout":"30s"}`)
		expect(t, "claim", r, 200)
		c := decodeInto[claimed](t, r)
		if len(c.Tasks) != 1 {
			t.Fatalf("claim answered %s", r.Body)
		}
		return c.Tasks[0].ID, c.Tasks[0].Receipt
	}
	id, receipt := claim()
	expect(t, "ack", s.do("POST", "/queues/dashboards/tasks/"+id+"/ack", `{"receipt":"`+receipt+`"}`), 204)
	expect(t, "enqueue with one attempt", s.do("POST", "/queues/dashboards/tasks", `{"payload":{"n":2},"maxAttempts":1}`), 201)
	id, receipt = claim()
	expect(t, "nack to the dead letters", s.do("POST", "/queues/dashboards/tasks/"+id+"/nack",
		`{"receipt":"`+receipt+`","error":"dashboards test"}`), 200)
	expect(t, "queue stats", s.do("GET", "/queues/dashboards", ""), 200)
	return true
}

func driveLeaderboard(t *testing.T, s *server, _ int) bool {
	r := s.do("POST", "/leaderboards/dashboards/scores", `{"member":"alice","score":10}`)
	if noRoute(r) {
		return false
	}
	expect(t, "set score", r, 200, 201)
	expect(t, "incr score", s.do("POST", "/leaderboards/dashboards/scores", `{"member":"bob","score":5,"mode":"incr"}`), 200, 201)
	expect(t, "top", s.do("GET", "/leaderboards/dashboards?top=10", ""), 200)
	expect(t, "member", s.do("GET", "/leaderboards/dashboards/members/alice", ""), 200)
	return true
}
