package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/redlane/redlane/internal/redistest"
)

// TestHostileInput is issue 15's list of what a hostile client tried,
// against a real server on a real Redis: each is refused with a 4xx naming
// what is wrong, and changes nothing.
func TestHostileInput(t *testing.T) {
	rs := redistest.Start(t)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL(), "ADMIN_TOKEN": adminToken}, withDemoUsers(t)...)
	s.waitStatus("/readyz", 200, readyWithin)
	admin := []string{"Authorization", "Bearer " + adminToken}
	rdb := rs.Client()
	ctx := t.Context()

	// wantField checks a problem+json answer with status code naming field.
	wantField := func(t *testing.T, r response, code int, field string) {
		t.Helper()
		if r.Status != code || r.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(r.Body), `"field":"`+field+`"`) {
			t.Fatalf("= %d %s %s, want %d problem naming %s", r.Status, r.Header.Get("Content-Type"), r.Body, code, field)
		}
	}

	t.Run("duplicate keys on every endpoint with a body", func(t *testing.T) {
		before, _ := rdb.DBSize(ctx).Result()
		for _, tc := range []struct {
			method, path, body, field string
			headers                   []string
		}{
			{"POST", "/auth/login", `{"username":"user1","password":"nope-nope","password":"password123"}`, "password", nil},
			{"POST", "/chat/message", `{"room":"dup","message":"a","message":"b"}`, "message", nil},
			{"POST", "/cache/clear", `{"pattern":"user:1","pattern":"user:*"}`, "pattern", admin},
			{"POST", "/cache/warm", `{"top":1,"top":100}`, "top", admin},
			{"POST", "/users", `{"username":"dup1","email":"d@example.com","password":"password123","role":"user","role":"admin"}`, "role", admin},
			{"PUT", "/users/2", `{"username":"user2","email":"user2@example.com","role":"user","role":"admin"}`, "role", admin},
			{"PATCH", "/users/2", `{"role":"user","ROLE":"admin"}`, "ROLE", admin},
			{"POST", "/locks/dup", `{"ttl":"1s","ttl":"60s"}`, "ttl", nil},
			{"PUT", "/locks/dup", `{"token":"a","token":"b"}`, "token", nil},
			{"DELETE", "/locks/dup", `{"token":"a","token":"b"}`, "token", nil},
			{"POST", "/queues/dup/tasks", `{"payload":1,"payload":2}`, "payload", nil},
			{"POST", "/queues/dup/tasks", `{"payload":{"to":"a","to":"b"}}`, "payload.to", nil},
			{"POST", "/queues/dup/claim", `{"count":1,"count":10}`, "count", nil},
			{"POST", "/queues/claim", `{"queues":{"dup":1,"dup":2}}`, "queues.dup", nil},
			{"POST", "/queues/dup/tasks/0123456789abcdef01234567/ack", `{"receipt":"a","receipt":"b"}`, "receipt", nil},
			{"POST", "/queues/dup/tasks/0123456789abcdef01234567/nack", `{"receipt":"a","receipt":"b"}`, "receipt", nil},
			{"POST", "/queues/dup/tasks/0123456789abcdef01234567/extend", `{"receipt":"a","receipt":"b"}`, "receipt", nil},
			{"POST", "/leaderboards/dup/scores", `{"member":"a","score":1,"score":1e9}`, "score", nil},
		} {
			t.Run(tc.method+" "+tc.path, func(t *testing.T) {
				wantField(t, s.do(tc.method, tc.path, tc.body, tc.headers...), 400, tc.field)
			})
		}
		if after, _ := rdb.DBSize(ctx).Result(); after != before {
			t.Errorf("Redis keys %d before, %d after the refused requests", before, after)
		}
		if r := s.do("GET", "/users/2", ""); !strings.Contains(string(r.Body), `"role":"user"`) {
			t.Errorf("user 2 changed: %s", r.Body)
		}
	})

	t.Run("NUL and invalid UTF-8 in text fields", func(t *testing.T) {
		before, _ := rdb.DBSize(ctx).Result()
		for _, tc := range []struct {
			name, method, path, body, field string
		}{
			{"user name NUL", "POST", "/users", `{"username":"nul1","email":"n@example.com","display_name":"Ann\u0000","password":"password123"}`, "display_name"},
			{"user name invalid UTF-8", "PATCH", "/users/3", "{\"display_name\":\"Ann\xff\"}", "display_name"},
			{"user name unpaired surrogate", "PATCH", "/users/3", `{"display_name":"Ann\udc00"}`, "display_name"},
			{"chat text NUL", "POST", "/chat/message", `{"room":"nul","message":"hi\u0000there"}`, "message"},
			{"chat text invalid UTF-8", "POST", "/chat/message", "{\"room\":\"nul\",\"message\":\"hi\xc3\x28\"}", "message"},
			{"queue payload NUL", "POST", "/queues/nul/tasks", `{"payload":{"body":"x\u0000"}}`, "payload.body"},
			{"queue payload invalid UTF-8", "POST", "/queues/nul/tasks", "{\"payload\":[\"\xed\xa0\x80\"]}", "payload[0]"},
			{"cache-clear pattern NUL", "POST", "/cache/clear", `{"pattern":"user:\u0000*"}`, "pattern"},
			{"cache-clear pattern invalid UTF-8", "POST", "/cache/clear", "{\"pattern\":\"user:\xfe*\"}", "pattern"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantField(t, s.do(tc.method, tc.path, tc.body, admin...), 400, tc.field)
			})
		}
		for _, key := range []string{"user:%00", "user:%FF"} {
			wantField(t, s.do("GET", "/cache/keys/"+key+"/ttl", "", admin...), 400, "key")
		}
		if after, _ := rdb.DBSize(ctx).Result(); after != before {
			t.Errorf("Redis keys %d before, %d after the refused requests", before, after)
		}
		if r := s.do("GET", "/chat/history?room=nul", ""); !strings.Contains(string(r.Body), `"messages":[]`) {
			t.Errorf("a refused message is in history: %s", r.Body)
		}
	})

	t.Run("display names without bidi or control characters", func(t *testing.T) {
		for _, name := range []string{"Ann\u202Egnp.exe", "Ann\u0007", "Ann\u2066x\u2069", "Ann\nLee"} {
			b, _ := json.Marshal(map[string]string{"display_name": name})
			wantField(t, s.do("PATCH", "/users/3", string(b), admin...), 422, "display_name")
		}
		if r := s.do("PATCH", "/users/3", `{"display_name":"Ann 👩‍💻 Lee"}`, admin...); r.Status != 200 {
			t.Fatalf("an emoji sequence (zero-width joiners) = %d %s", r.Status, r.Body)
		}
	})

	t.Run("null is not an absent body", func(t *testing.T) {
		for _, path := range []string{"/locks/nullbody", "/queues/nullbody/claim"} {
			wantField(t, s.do("POST", path, "null"), 400, "body")
		}
		if r := s.do("GET", "/locks/nullbody", ""); r.Status != 404 {
			t.Fatalf("null body took the lock: %d %s", r.Status, r.Body)
		}
		// No body at all is documented to mean the defaults, and still does.
		if r := s.do("POST", "/locks/nullbody", ""); r.Status != 201 {
			t.Fatalf("POST /locks/nullbody without a body = %d %s", r.Status, r.Body)
		}
		if r := s.do("POST", "/queues/nullbody/claim", ""); r.Status != 200 {
			t.Fatalf("claim without a body = %d %s", r.Status, r.Body)
		}
	})

	t.Run("two Authorization headers", func(t *testing.T) {
		req, _ := http.NewRequest("GET", s.URL+"/auth/session", nil)
		req.Header.Add("Authorization", "Bearer "+adminToken)
		req.Header.Add("Authorization", "Bearer x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("= %d %s, want 400 problem", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})

	t.Run("header limits", func(t *testing.T) {
		big := strings.Repeat("a", 1<<20)
		if code := rawRequest(t, s, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "+big+"\r\n\r\n"); code != 431 {
			t.Errorf("a 1 MB header value = %d, want 431", code)
		}
		var many strings.Builder
		for i := range 10000 {
			fmt.Fprintf(&many, "X-H%d: v\r\n", i)
		}
		if code := rawRequest(t, s, "GET /healthz HTTP/1.1\r\nHost: x\r\n"+many.String()+"\r\n"); code != 431 {
			t.Errorf("10,000 headers = %d, want 431", code)
		}
		// Few bytes but more lines than the limit: the count is checked too.
		req, _ := http.NewRequest("GET", s.URL+"/healthz", nil)
		for range 101 {
			req.Header.Add("A", "b")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 431 || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("101 header lines = %d %s, want a 431 problem", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})

	t.Run("a long path is logged cut, with a marker", func(t *testing.T) {
		long := "/" + strings.Repeat("p", 50_000)
		if r := s.do("GET", long, ""); r.Status != 404 {
			t.Fatalf("GET 50 KB path = %d", r.Status)
		}
		huge := "/" + strings.Repeat("q", 500_000)
		if code := rawRequest(t, s, "GET "+huge+" HTTP/1.1\r\nHost: x\r\n\r\n"); code != 431 && code != 414 {
			t.Errorf("GET 500 KB path = %d, want 431", code)
		}
		waitFor(t, func() bool { return strings.Contains(s.logs.String(), "truncated, 50001 bytes") })
		for _, line := range strings.Split(s.logs.String(), "\n") {
			if len(line) > 8192 {
				t.Fatalf("a log line of %d bytes: %.200s…", len(line), line)
			}
		}
	})

	t.Run("websocket: binary frames close with 1003, NUL is not published", func(t *testing.T) {
		c := dialChat(t, s, "/ws/chat/wsnul")
		c.next("joined")
		c.sendJSON(map[string]string{"type": "message", "text": "a\x00b", "ref": "1"})
		if f := c.next("error"); f.str("code") != "bad-frame" || f.str("ref") != "1" || !strings.HasPrefix(f.str("detail"), "text ") {
			t.Fatalf("NUL in a JSON frame: %v", f)
		}
		if err := c.c.WriteMessage(websocket.TextMessage, []byte("plain\x00text")); err != nil {
			t.Fatal(err)
		}
		if f := c.next("error"); f.str("code") != "invalid-message" {
			t.Fatalf("NUL in a text frame: %v", f)
		}
		if err := c.c.WriteMessage(websocket.TextMessage, []byte(`{"type":"message","text":"a","text":"b","ref":"2"}`)); err != nil {
			t.Fatal(err)
		}
		if f := c.next("error"); f.str("code") != "bad-frame" || !strings.Contains(f.str("detail"), "text") {
			t.Fatalf("duplicate key in a frame: %v", f)
		}
		if err := c.c.WriteMessage(websocket.BinaryMessage, []byte("binary\x00")); err != nil {
			t.Fatal(err)
		}
		if code := c.closeCode(); code != websocket.CloseUnsupportedData {
			t.Fatalf("binary frame: close code %d, want 1003", code)
		}
		if r := s.do("GET", "/chat/history?room=wsnul", ""); !strings.Contains(string(r.Body), `"messages":[]`) {
			t.Fatalf("refused frames were published: %s", r.Body)
		}
	})

	t.Run("a renamed user's sessions end; the new owner of the old name is someone else", func(t *testing.T) {
		oldTok, r := login(t, s, "user5", "password123")
		if oldTok == "" {
			t.Fatalf("login: %d %s", r.Status, r.Body)
		}
		if r := s.do("PATCH", "/users/5", `{"username":"renamed5"}`, admin...); r.Status != 200 {
			t.Fatalf("rename = %d %s", r.Status, r.Body)
		}
		if r := s.do("POST", "/users", `{"username":"user5","email":"new5@example.com","password":"password456"}`, admin...); r.Status != 201 {
			t.Fatalf("a new user5 = %d %s", r.Status, r.Body)
		}
		newTok, _ := login(t, s, "user5", "password456")
		if r := s.do("GET", "/auth/session", "", bearer(oldTok)...); r.Status != 401 {
			t.Fatalf("the renamed user's old session still works: %d %s", r.Status, r.Body)
		}
		if r := s.do("POST", "/chat/message", `{"room":"rename","message":"as whom?"}`, bearer(oldTok)...); !strings.Contains(string(r.Body), `"sender":"anonymous"`) {
			t.Fatalf("the old session chats as someone: %d %s", r.Status, r.Body)
		}
		r = s.do("POST", "/chat/message", `{"room":"rename","message":"I am the new user5"}`, bearer(newTok)...)
		if !strings.Contains(string(r.Body), `"sender":"user5"`) {
			t.Fatalf("new user5 chats as %s", r.Body)
		}
		renamedTok, _ := login(t, s, "renamed5", "password123")
		if r := s.do("GET", "/auth/session", "", bearer(renamedTok)...); !strings.Contains(string(r.Body), `"username":"renamed5"`) {
			t.Fatalf("the renamed user logs in under the new name: %s", r.Body)
		}
	})
}

// rawRequest writes req on a fresh connection and returns the status code
// of the answer (0 when the server closed without one).
func rawRequest(t *testing.T, s *server, req string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = conn.Write([]byte(req)) }() // the server may answer before reading it all
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
