package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redlane/redlane/internal/redistest"
)

// TestOpenAPIContract drives every documented operation of a real server
// (real redis-server, demo users in SQLite) and validates each request it
// claims is valid and every answer — status, headers, body, problems —
// against the document the server serves. It ends with Redis down, so the
// 503 problems are checked too, and fails if an operation was never called.
func TestOpenAPIContract(t *testing.T) {
	rs := redistest.Start(t)
	cfg := filepath.Join(t.TempDir(), "contract.yaml")
	writeFile(t, cfg, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n"+demoUsersSpec+
		"  queue:\n    completedRetention: 1h\n    schedules:\n    - {name: nightly, queue: reports, schedule: '0 3 * * *', timeZone: Europe/Paris, payload: {report: daily}}\n")
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL(), "ADMIN_TOKEN": adminToken}, "--config", cfg)
	s.waitStatus("/readyz", 200, readyWithin)
	c := newContract(t, s)
	admin := []string{"X-Admin-Token", adminToken}

	t.Run("health and docs", func(t *testing.T) {
		c.call("GET", "/health", "")
		c.call("GET", "/healthz", "")
		c.call("GET", "/readyz", "")
		c.call("GET", "/metrics", "")
		c.call("GET", "/openapi.json", "")
		c.call("GET", "/docs", "")
		c.call("GET", "/", "")
		c.call("GET", "/ui/chat.js", "")
		c.call("GET", "/ui/swagger-ui/swagger-ui.css", "")
		c.call("GET", "/ui/swagger-ui/favicon-32x32.png", "")
		c.bad("GET", "/ui/no-such-file.js", "")
	})

	var token string
	t.Run("sessions", func(t *testing.T) {
		c.bad("POST", "/auth/login", `{"username":"","password":""}`)
		c.bad("POST", "/auth/login", `{"username":"user1","password":"x","extra":1}`)
		c.bad("POST", "/auth/login", `{"username":`)
		c.bad("POST", "/auth/login", `{"username":"user1"}`, "Content-Type", "text/plain")
		if r := c.expect(401, "POST", "/auth/login", `{"username":"user1","password":"wrong-password"}`); r.Status != 401 {
			t.Errorf("wrong password = %d", r.Status)
		}
		r := c.call("POST", "/auth/login", `{"username":"user1","password":"password123"}`)
		token = field(t, r, "session_token")
		if token == "" {
			t.Fatalf("login = %d %s", r.Status, r.Body)
		}
		auth := bearer(token)
		c.call("GET", "/auth/session", "", auth...)
		c.call("GET", "/auth/session", "", "Cookie", "redlane_session="+token)
		c.bad("GET", "/auth/session", "")
		c.bad("GET", "/auth/session", "", "Authorization", "Bearer not-a-real-token")
		c.call("GET", "/auth/sessions", "", auth...)
		c.bad("DELETE", "/auth/sessions/not-hex", "", auth...)
		c.expect(404, "DELETE", "/auth/sessions/0123456789abcdef01234567", "", auth...)
		c.call("DELETE", "/auth/sessions", "", auth...)
		c.call("GET", "/auth/analytics?window=1h&interval=5m", "", admin...)
		c.call("GET", "/admin/users/1/sessions", "", admin...)
		if r := c.call("GET", "/admin/redis", "", admin...); !strings.Contains(string(r.Body), `"role":"master"`) || !strings.Contains(string(r.Body), `"version":"`) {
			t.Errorf("GET /admin/redis: %s", r.Body)
		}
		c.bad("GET", "/admin/users/0/sessions", "", admin...)
		c.bad("GET", "/admin/users/1/sessions", "")
		c.call("DELETE", "/admin/users/299/sessions", "", admin...) // a user with no session: revoked 0
		c.bad("GET", "/auth/analytics?interval=7m", "", admin...)
		c.bad("GET", "/auth/analytics", "")
		if r := c.bad("GET", "/auth/analytics", "", auth...); r.Status != 403 {
			t.Errorf("analytics as a plain user = %d, want 403", r.Status)
		}
	})

	t.Run("admin", func(t *testing.T) {
		c.call("GET", "/admin/config", "", admin...)
		c.call("POST", "/admin/config/reload", "", admin...)
		c.bad("GET", "/admin/config", "", "X-Admin-Token", "wrong")
	})

	t.Run("rate limits", func(t *testing.T) {
		var limited bool
		for i := 0; i < 8 && !limited; i++ {
			r := c.exchange(true, "GET", "/api/limited-endpoint", "") // 200 until the limit, then 429 (checked below)
			limited = r.Status == 429
			if r.Status != 200 && !limited {
				t.Errorf("GET /api/limited-endpoint = %d, want 200 until the limit, then 429", r.Status)
			}
			if !limited && r.Header.Get("RateLimit") == "" {
				t.Errorf("allowed answer without RateLimit: %v", r.Header)
			}
		}
		if !limited {
			t.Error("8 calls within a minute were all allowed; want a 429 from the default policy")
		}
		r := c.call("GET", "/admin/ratelimits", "", admin...)
		if !strings.Contains(string(r.Body), `"limited":1`) || !strings.Contains(string(r.Body), `"subject":"ip:127.0.0.1","route":"/api/limited-endpoint"`) {
			t.Errorf("GET /admin/ratelimits after one 429: %s", r.Body)
		}
		c.bad("GET", "/admin/ratelimits", "")
	})

	t.Run("locks", func(t *testing.T) {
		r := c.call("POST", "/locks/report-job", `{"ttl":30}`)
		lockToken := field(t, r, "token")
		if r.Status != 201 || lockToken == "" {
			t.Fatalf("acquire = %d %s", r.Status, r.Body)
		}
		c.call("GET", "/locks/report-job", "")
		c.call("PUT", "/locks/report-job", `{"token":"`+lockToken+`","ttl":"45s"}`)
		if r := c.expect(409, "POST", "/locks/report-job", `{"wait":0}`); r.Status != 409 || r.Header.Get("Retry-After") == "" {
			t.Errorf("second acquire = %d %v", r.Status, r.Header)
		}
		c.expect(409, "PUT", "/locks/report-job", `{"token":"not-the-token"}`)
		c.expect(409, "DELETE", "/locks/report-job", `{"token":"not-the-token"}`)
		c.call("DELETE", "/locks/report-job", "", "Lock-Token", lockToken)
		c.expect(404, "GET", "/locks/report-job", "")
		c.call("POST", "/locks/quick", "")
		c.bad("POST", "/locks/bad$name", "")
		c.bad("POST", "/locks/report-job", `{"ttl":"soon"}`)
		c.bad("POST", "/locks/report-job", `{"ttl":1,"owner":"me"}`)
		c.bad("POST", "/locks/report-job", `{"ttl":`+strings.Repeat("1", 2<<20)+`}`)
		c.bad("DELETE", "/locks/report-job", `{}`)
	})

	t.Run("queue", func(t *testing.T) {
		r := c.call("POST", "/queues/mail/tasks", `{"payload":{"to":"a@example.com"},"uniqueKey":"welcome-1"}`)
		id := field(t, r, "id")
		if r.Status != 201 || id == "" {
			t.Fatalf("enqueue = %d %s", r.Status, r.Body)
		}
		if r := c.call("POST", "/queues/mail/tasks", `{"payload":{"to":"a@example.com"},"uniqueKey":"welcome-1"}`); r.Status != 200 {
			t.Errorf("duplicate enqueue = %d", r.Status)
		}
		c.call("GET", "/queues/mail", "")
		c.call("GET", "/queues/mail/tasks/"+id, "")
		claim := decodeInto[claimed](t, c.call("POST", "/queues/mail/claim", `{"worker":"w1","visibilityTimeout":"1m"}`))
		if len(claim.Tasks) != 1 {
			t.Fatalf("claim = %+v", claim)
		}
		receipt := claim.Tasks[0].Receipt
		c.call("GET", "/queues/mail/tasks/"+id, "") // in flight now
		c.call("POST", "/queues/mail/tasks/"+id+"/extend", `{"receipt":"`+receipt+`","visibilityTimeout":120}`)
		c.call("POST", "/queues/mail/tasks/"+id+"/ack", `{"receipt":"`+receipt+`"}`)
		c.expect(409, "POST", "/queues/mail/tasks/"+id+"/ack", `{"receipt":"`+receipt+`"}`) // kept as completed (completedRetention): already acknowledged
		c.call("POST", "/queues/mail/claim", "")                                            // empty queue
		c.bad("POST", "/queues/mail/claim", `{"count":1000}`)
		c.bad("POST", "/queues/bad$queue/tasks", `{"payload":1}`)
		c.bad("POST", "/queues/mail/tasks", `{"payload":null}`)

		dead := c.call("POST", "/queues/dlq/tasks", `{"payload":"x","maxAttempts":1}`)
		deadID := field(t, dead, "id")
		cl := decodeInto[claimed](t, c.call("POST", "/queues/dlq/claim", `{"count":1}`))
		if len(cl.Tasks) != 1 {
			t.Fatalf("claim = %+v", cl)
		}
		c.call("POST", "/queues/dlq/tasks/"+deadID+"/nack", `{"receipt":"`+cl.Tasks[0].Receipt+`","error":"smtp down"}`)
		c.call("GET", "/queues/dlq/dead?limit=10", "", admin...)
		c.bad("GET", "/queues/dlq/dead", "")
		c.call("POST", "/queues/dlq/dead/"+deadID+"/requeue", "", admin...)
		c.expect(409, "POST", "/queues/dlq/dead/"+deadID+"/requeue", "", admin...) // not dead any more: 409
		cl = decodeInto[claimed](t, c.call("POST", "/queues/dlq/claim", `{}`))
		if len(cl.Tasks) != 1 {
			t.Fatalf("claim after requeue = %+v", cl)
		}
		c.call("POST", "/queues/dlq/tasks/"+deadID+"/nack", `{"receipt":"`+cl.Tasks[0].Receipt+`","delay":0}`)
		c.call("DELETE", "/queues/dlq/dead/"+deadID, "", admin...)
		c.expect(404, "DELETE", "/queues/dlq/dead/"+deadID, "", admin...)

		// pause, priorities, completed tasks with results, schedules
		c.call("POST", "/queues/low/tasks", `{"payload":{"n":1}}`)
		c.call("POST", "/queues/high/pause", "", admin...)
		c.bad("POST", "/queues/high/pause", "")
		c.call("POST", "/queues/high/tasks", `{"payload":{"n":2}}`)
		cl = decodeInto[claimed](t, c.call("POST", "/queues/claim", `{"queues":{"high":6,"low":1},"worker":"w1"}`))
		if len(cl.Tasks) != 1 || cl.Tasks[0].Queue != "low" {
			t.Fatalf("claim across a paused and a running queue: %+v", cl.Tasks)
		}
		c.call("POST", "/queues/low/tasks/"+cl.Tasks[0].ID+"/ack", `{"receipt":"`+cl.Tasks[0].Receipt+`","result":{"sent":true}}`)
		c.call("GET", "/queues/low/completed?limit=10", "", admin...)
		c.call("POST", "/queues/high/resume", "", admin...)
		c.bad("POST", "/queues/claim", `{"queues":{}}`)
		c.bad("POST", "/queues/claim", `{"queues":{"high":0}}`)
		c.call("POST", "/queues/claim", `{"queues":{"high":6,"low":1},"strict":true,"count":2}`)
		c.call("GET", "/schedules", "", admin...)
		c.bad("GET", "/schedules", "")
		c.call("POST", "/schedules/nightly/pause", "", admin...)
		c.call("POST", "/schedules/nightly/resume", "", admin...)
		c.call("POST", "/schedules/nightly/trigger", "", admin...)
		c.expect(404, "POST", "/schedules/weekly/trigger", "", admin...)
		c.call("GET", "/queues?offset=0&limit=10", "", admin...)
		c.bad("GET", "/queues?limit=1000", "", admin...)
		if r := c.call("GET", "/admin/queues/events?once=true&limit=5", "", admin...); !strings.HasPrefix(string(r.Body), "event: queues\ndata: {") {
			t.Errorf("queue events: %s", r.Body)
		}
		c.bad("GET", "/admin/queues/events?once=maybe", "", admin...)
		c.call("GET", "/admin", "")
	})

	t.Run("leaderboards", func(t *testing.T) {
		for i, m := range []string{"alice", "bob", "carol"} {
			c.call("POST", "/leaderboards/game1/scores", fmt.Sprintf(`{"member":%q,"score":%d,"periods":["daily","weekly"]}`, m, 100*(i+1)))
		}
		c.call("POST", "/leaderboards/game1/scores", `{"member":"alice","score":50,"mode":"incr"}`)
		c.call("GET", "/leaderboards/game1?top=2", "")
		c.call("GET", "/leaderboards/game1?period=daily", "")
		c.call("GET", "/leaderboards/game1/members/bob?around=1", "")
		c.expect(404, "GET", "/leaderboards/game1/members/nobody", "")
		c.bad("GET", "/leaderboards/game1?period=monthly", "")
		c.bad("POST", "/leaderboards/game1/scores", `{"member":"dave"}`)
	})

	t.Run("users and cache", func(t *testing.T) {
		c.call("GET", "/users/1", "")
		r := c.call("GET", "/users/1", "")
		if r.Header.Get("X-Cache") != "HIT" {
			t.Errorf("second read of user 1: X-Cache %q", r.Header.Get("X-Cache"))
		}
		if r := c.expect(304, "GET", "/users/1", "", "If-None-Match", r.Header.Get("ETag")); r.Status != 304 {
			t.Errorf("revalidation = %d", r.Status)
		}
		c.expect(404, "GET", "/users/424242", "")
		c.bad("GET", "/users/abc", "")
		c.call("GET", "/users?limit=2", "")
		c.call("GET", "/users?limit=2&after=2", "")
		c.call("GET", "/users?ids=1,2,424242", "")
		c.bad("GET", "/users?sort=name", "")
		c.bad("GET", "/users?limit=0", "")

		created := c.call("POST", "/users", `{"username":"contract-ann","email":"ann@example.com","display_name":"Ann","password":"correct-horse-1"}`, admin...)
		if created.Status != 201 {
			t.Fatalf("create = %d %s", created.Status, created.Body)
		}
		id := fmt.Sprint(decodeInto[struct{ ID int64 }](t, created).ID)
		c.expect(409, "POST", "/users", `{"username":"contract-ann","email":"ann2@example.com","password":"correct-horse-1"}`, admin...) // 409
		c.bad("POST", "/users", `{"username":"x","email":"not-an-email","password":"short"}`, admin...)
		c.bad("POST", "/users", `{"username":"contract-bob","email":"bob@example.com","password":"correct-horse-1"}`)
		c.call("PATCH", "/users/"+id, `{"display_name":"Ann Example"}`, admin...)
		c.call("PUT", "/users/"+id, `{"username":"contract-ann","email":"ann@example.org","display_name":"Ann E.","role":"user"}`, admin...)
		c.bad("PATCH", "/users/"+id, `{}`, admin...)
		c.call("DELETE", "/users/"+id, "", admin...)
		c.expect(404, "DELETE", "/users/"+id, "", admin...)                                                   // 404
		c.expect(404, "PUT", "/users/"+id, `{"username":"contract-ann","email":"ann@example.org"}`, admin...) // 404
		c.expect(404, "PATCH", "/users/"+id, `{"display_name":"gone"}`, admin...)                             // 404

		c.call("GET", "/users/2", "")
		c.call("GET", "/cache/keys/user:2/ttl", "")
		c.expect(404, "GET", "/cache/keys/user:777777/ttl", "")
		c.bad("GET", "/cache/keys/session:1/ttl", "")
		c.call("GET", "/cache/stats", "")
		c.call("POST", "/cache/clear", `{"keys":["user:2"]}`, admin...)
		c.call("POST", "/cache/clear", `{"pattern":"user:*"}`, admin...)
		c.bad("POST", "/cache/clear", `{"pattern":"*"}`, admin...)
		c.bad("POST", "/cache/clear", `{}`, admin...)
		c.bad("POST", "/cache/clear", `{"pattern":"user:*"}`)
		c.call("GET", "/cache/warm", "")
		c.call("POST", "/cache/warm", `{"top":20}`, admin...)
		// 409 while the first warm runs, 202 when it has finished already
		if r := c.exchange(true, "POST", "/cache/warm", `{"ids":[1,2,3]}`, admin...); r.Status != 202 && r.Status != 409 {
			t.Errorf("second POST /cache/warm = %d %s, want 202 or 409", r.Status, r.Body)
		}
		c.bad("POST", "/cache/warm", `{"top":0}`, admin...)
		c.call("GET", "/cache/warm", "")
	})

	t.Run("chat", func(t *testing.T) {
		ws, r := c.websocket("/ws/chat/contract?since=0-0", "Origin", s.URL)
		if r.Status != 101 {
			t.Fatalf("WS handshake = %d %s", r.Status, r.Body)
		}
		defer ws.Close()
		ws2, r := c.websocket("/ws/chat", "Cookie", "redlane_session="+token)
		if r.Status != 101 {
			t.Fatalf("WS handshake without a room = %d %s", r.Status, r.Body)
		}
		ws2.Close()
		c.bad("GET", "/ws/chat/contract?since=yesterday", "")
		c.bad("GET", "/ws/chat/bad!room", "")
		c.bad("GET", "/ws/chat/contract", "", "Origin", "http://evil.example")
		if r := c.expect(426, "GET", "/ws/chat/contract", ""); r.Status != 426 {
			t.Errorf("plain GET of the socket = %d", r.Status)
		}
		c.expect(426, "GET", "/ws/chat", "")
		if r := c.eventStream("/sse/chat/contract?since=0-0"); r.Status != 200 || r.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("GET /sse/chat/contract = %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		c.bad("GET", "/sse/chat/contract?since=yesterday", "")
		c.call("POST", "/chat/message", `{"room":"contract","message":"hello"}`)
		c.call("POST", "/chat/message", `{"room":"contract","message":"as user1"}`, bearer(token)...)
		for range 2 {
			c.call("POST", "/chat/message", `{"room":"contract","message":"once"}`, "Idempotency-Key", "contract-1")
		}
		c.bad("POST", "/chat/message", `{"room":"no spaces","message":"x"}`)
		c.bad("POST", "/chat/message", `{"room":"contract","message":"`+strings.Repeat("x", 5000)+`"}`)
		c.call("GET", "/chat/rooms", "")
		h := c.call("GET", "/chat/history?room=contract&limit=2", "")
		if before := field(t, h, "nextBefore"); before != "" {
			c.call("GET", "/chat/history?room=contract&limit=2&before="+before, "")
		} else {
			t.Errorf("history of 4 messages in pages of 2 has no nextBefore: %s", h.Body)
		}
		c.call("GET", "/chat/history?room=empty-room", "")
		c.bad("GET", "/chat/history?room=contract&before=x", "")
		c.call("GET", "/chat/presence?room=contract", "")
		c.bad("GET", "/chat/presence", "")
	})

	t.Run("logout", func(t *testing.T) {
		c.call("POST", "/auth/logout", "", bearer(token)...)
		c.bad("POST", "/auth/logout", "", bearer(token)...)
	})

	t.Run("Redis down: documented 503 problems", func(t *testing.T) {
		rs.Stop()
		if r := c.expect(503, "GET", "/health", ""); r.Status != 503 {
			t.Errorf("/health with Redis down = %d", r.Status)
		}
		if r := c.expect(503, "GET", "/readyz", ""); r.Status != 503 {
			t.Errorf("/readyz with Redis down = %d", r.Status)
		}
		if r := c.expect(503, "GET", "/locks/report-job", ""); r.Status != 503 || r.Header.Get("Retry-After") == "" {
			t.Errorf("lock with Redis down = %d %v", r.Status, r.Header)
		}
		c.expect(503, "POST", "/queues/mail/tasks", `{"payload":1}`)
	})

	c.requireCoverage()
}
