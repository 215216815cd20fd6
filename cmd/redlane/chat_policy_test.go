package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/realtime/access"
	"github.com/redlane/redlane/internal/redistest"
)

// roomPolicies is the realtime section of the policy tests: one policy per
// kind of rule.
const roomPolicies = `    roomPolicies:
      - {match: "public:*", subscribe: [anyone], publish: [authenticated]}
      - {match: "team:{team}:*", subscribe: ["user:user2", "role:admin"], publish: ["role:admin"]}
      - {match: "dm:{a},{b}", subscribe: ["{a}", "{b}"]}
      - {match: "dm:*", subscribe: [nobody]}
      - {match: "ro:*", subscribe: [anyone], publish: [nobody], history: [authenticated], presence: [nobody]}
`

// policyConfig writes a config with the demo users and the given realtime
// section (block style, indented under realtime:).
func policyConfig(t *testing.T, path, realtime string) {
	t.Helper()
	writeFile(t, path, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n"+demoUsersSpec+"  realtime:\n"+realtime)
}

// policyCallers logs in user1 and user2 and creates and logs in an admin,
// boss; the map holds their Authorization headers ("" is anonymous).
func policyCallers(t *testing.T, s *server) map[string][]string {
	t.Helper()
	r := s.do("POST", "/users", `{"username":"boss","email":"boss@example.com","password":"password123","role":"admin"}`, "Authorization", "Bearer "+adminToken)
	if r.Status != 201 && r.Status != 409 {
		t.Fatalf("creating an admin: %d %s", r.Status, r.Body)
	}
	out := map[string][]string{"": nil}
	for _, u := range []string{"user1", "user2", "boss"} {
		tok, r := login(t, s, u, "password123")
		if tok == "" {
			t.Fatalf("login %s: %d %s", u, r.Status, r.Body)
		}
		out[u] = bearer(tok)
	}
	return out
}

// roomFieldProblem checks a 403 problem naming the room field and returns
// it with the request's own parts (id, path, room name) taken out, so two
// refusals can be compared.
func roomFieldProblem(t *testing.T, what string, r response, room string) string {
	t.Helper()
	if r.Status != 403 || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%s: %d %s %s, want a 403 problem", what, r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	var p struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
		Errors []struct{ Field, Message string }
	}
	_ = json.Unmarshal(r.Body, &p)
	if len(p.Errors) != 1 || p.Errors[0].Field != "room" || !strings.HasSuffix(p.Type, "/room-forbidden") {
		t.Fatalf("%s: problem %s, want type room-forbidden naming the room field", what, r.Body)
	}
	return strings.ReplaceAll(p.Type+"|"+p.Detail+"|"+p.Errors[0].Message, room, "ROOM")
}

// checkRoomPolicies runs every rule of roomPolicies through every entry
// point: WebSocket join and message frames, SSE, POST /chat/message,
// history, presence and the room list.
func checkRoomPolicies(t *testing.T, s *server) {
	who := policyCallers(t, s)
	// Messages in the rooms, so that "has messages" and "empty" can be told
	// apart if an answer leaked it.
	post(t, s, "dm:user1,user2", "hi", who["user1"]...)
	post(t, s, "team:7:general", "hello team", who["boss"]...)

	tests := []struct {
		caller, room                        string
		subscribe, publish, history, people bool
	}{
		{"", "public:lobby", true, false, true, true},
		{"user1", "public:lobby", true, true, true, true},
		{"user1", "team:7:general", false, false, false, false},
		{"user2", "team:7:general", true, false, true, true},
		{"boss", "team:7:general", true, true, true, true},
		{"", "team:7:general", false, false, false, false},
		{"user1", "dm:user1,user2", true, true, true, true},
		{"user2", "dm:user1,user2", true, true, true, true},
		{"boss", "dm:user1,user2", false, false, false, false},
		{"", "dm:user1,user2", false, false, false, false},
		{"user1", "dm:user1,user2,user3", false, false, false, false}, // dm:* after dm:{a},{b}
		{"", "ro:news", true, false, false, false},
		{"user1", "ro:news", true, false, true, false},
		{"", "open-room", true, true, true, true}, // no policy fits: open as before
	}
	for _, tc := range tests {
		name := tc.caller
		if name == "" {
			name = "anonymous"
		}
		t.Run(name+" in "+tc.room, func(t *testing.T) {
			h := who[tc.caller]
			// WebSocket: a joined frame, or an error frame then close 4403.
			ws := dialChat(t, s, "/ws/chat/"+tc.room, h...)
			f := ws.next("joined", "error")
			if got := f.str("type") == "joined"; got != tc.subscribe {
				t.Fatalf("WS join: %v, want allowed=%v", f, tc.subscribe)
			}
			if !tc.subscribe {
				if f.str("code") != "forbidden" || f.str("room") != tc.room {
					t.Fatalf("WS refusal %v, want code forbidden naming the room", f)
				}
				if code := ws.closeCode(); code != 4403 {
					t.Fatalf("WS close code %d, want 4403", code)
				}
			} else {
				// A message frame on the joined socket: an ack or a refusal.
				ws.sendJSON(map[string]string{"type": "message", "text": "frame", "ref": "p"})
				a := ws.next("ack", "error")
				if got := a.str("type") == "ack"; got != tc.publish || (!got && a.str("code") != "forbidden") {
					t.Fatalf("WS publish: %v, want allowed=%v", a, tc.publish)
				}
			}
			// SSE: 200, or a 403 problem before any event.
			_, resp, _, err := dialSSEErr(t, s.URL, "/sse/chat/"+tc.room, h...)
			if (err == nil) != tc.subscribe || (err != nil && resp.StatusCode != 403) {
				t.Fatalf("SSE: %v, want allowed=%v", err, tc.subscribe)
			}
			b, _ := json.Marshal(map[string]string{"room": tc.room, "message": "post"})
			for _, c := range []struct {
				what    string
				r       response
				allowed bool
			}{
				{"POST /chat/message", s.do("POST", "/chat/message", string(b), h...), tc.publish},
				{"GET /chat/history", s.do("GET", "/chat/history?room="+tc.room, "", h...), tc.history},
				{"GET /chat/presence", s.do("GET", "/chat/presence?room="+tc.room, "", h...), tc.people},
			} {
				if c.allowed && c.r.Status != 200 {
					t.Fatalf("%s: %d %s, want 200", c.what, c.r.Status, c.r.Body)
				}
				if !c.allowed {
					roomFieldProblem(t, c.what, c.r, tc.room)
				}
			}
		})
	}

	t.Run("a refusal says nothing of whether the room exists", func(t *testing.T) {
		for _, path := range []string{"/chat/history?room=", "/chat/presence?room="} {
			full := roomFieldProblem(t, path, s.do("GET", path+"dm:user1,user2", "", who["boss"]...), "dm:user1,user2")
			empty := roomFieldProblem(t, path, s.do("GET", path+"dm:user1,user3", "", who["boss"]...), "dm:user1,user3")
			if full != empty {
				t.Fatalf("%s: a room with messages answers %q, an empty one %q", path, full, empty)
			}
		}
	})

	t.Run("the room list shows only rooms whose presence the caller may read", func(t *testing.T) {
		ws := dialChat(t, s, "/ws/chat/dm:user1,user2", who["user1"]...)
		ws.next("joined")
		seen := func(caller string) bool {
			var out struct{ Rooms []struct{ Room string } }
			_ = json.Unmarshal(s.do("GET", "/chat/rooms", "", who[caller]...).Body, &out)
			for _, r := range out.Rooms {
				if r.Room == "dm:user1,user2" {
					return true
				}
			}
			return false
		}
		deadline := time.Now().Add(10 * time.Second)
		for !seen("user2") {
			if time.Now().After(deadline) {
				t.Fatal("user2 does not see the dm room in GET /chat/rooms")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if seen("boss") || seen("") {
			t.Fatal("GET /chat/rooms lists a dm room to callers who may not read its presence")
		}
	})
}

// policyServer serves roomPolicies on Redis (env names it) with the admin
// token set, and returns it with its config file, which tests rewrite.
func policyServer(t *testing.T, env map[string]string, realtime string) (*server, string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "redlane.yaml")
	policyConfig(t, cfg, realtime)
	env["ADMIN_TOKEN"] = adminToken
	s := startServer(t, env, "--config", cfg)
	s.waitStatus("/readyz", 200, readyWithin)
	return s, cfg
}

func TestChatRoomPoliciesStandalone(t *testing.T) {
	rs := redistest.Start(t)
	s, _ := policyServer(t, map[string]string{"REDIS_URL": rs.URL()}, roomPolicies)
	checkRoomPolicies(t, s)
}

func TestChatRoomPoliciesCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	s, _ := policyServer(t, map[string]string{"REDIS_ADDRS": strings.Join(c.Addrs(), ",")}, roomPolicies)
	checkRoomPolicies(t, s)
}

// TestChatRoomPolicyReload: a policy change applies to sockets and streams
// already in a room: they are taken out with a left frame saying why (a
// stream then ends), others stay, and new joins follow the new policy.
func TestChatRoomPolicyReload(t *testing.T) {
	rs := redistest.Start(t)
	s, cfg := policyServer(t, map[string]string{"REDIS_URL": rs.URL()}, roomPolicies)
	who := policyCallers(t, s)

	user1 := dialChat(t, s, "/ws/chat/staff:room", who["user1"]...)
	user1.next("joined")
	boss := dialChat(t, s, "/ws/chat/staff:room", who["boss"]...)
	boss.next("joined")
	stream, _, _ := dialSSE(t, s.URL, "/sse/chat/staff:room", who["user1"]...)
	stream.next("joined")

	policyConfig(t, cfg, roomPolicies+`      - {match: "staff:*", subscribe: ["role:admin"]}
`)
	for _, c := range []*wsClient{user1, stream} {
		l := c.next("left")
		if l.str("room") != "staff:room" || l.str("reason") != "forbidden" || !strings.Contains(l.str("detail"), "policy") {
			t.Fatalf("left frame %v, want room staff:room, reason forbidden and why", l)
		}
	}
	stream.ended()
	// The socket stays open (it may join other rooms) but gets nothing more
	// of the room; the admin's socket stays in it.
	user1.sendJSON(map[string]string{"type": "ping", "ref": "still-open"})
	user1.next("pong")
	id := post(t, s, "staff:room", "admins only", who["boss"]...)["id"].(string)
	if m := boss.messages(1)[0]; m.str("id") != id {
		t.Fatalf("admin got %v, want %s", m, id)
	}
	user1.assertQuiet(200 * time.Millisecond)
	user1.sendJSON(map[string]string{"type": "join", "room": "staff:room", "ref": "again"})
	if e := user1.next("error"); e.str("code") != "forbidden" {
		t.Fatalf("join after the change: %v, want forbidden", e)
	}
	// A bad policy is refused by the reload, naming the field; the old one stays.
	policyConfig(t, cfg, roomPolicies+`      - {match: "staff:{x", subscribe: ["role:admin"]}
`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := s.do("GET", "/admin/config", "", "Authorization", "Bearer "+adminToken)
		if regexp.MustCompile(`roomPolicies\[5\]\.match`).Match(r.Body) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a bad pattern was not reported by the reload: %s", r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := s.do("GET", "/chat/history?room=staff:room", "", who["user1"]...); r.Status != 403 {
		t.Fatalf("after a rejected reload the policy in effect changed: %d %s", r.Status, fmt.Sprint(string(r.Body)))
	}
}

// TestChatRoomTokens: rooms whose membership lives in the application's
// backend admit holders of a room token it signed (HS256, kid-selected key)
// on every entry point; a token for another room or user, an expired one or
// one signed with an unknown key admits nobody; and removing a key (the end
// of a rotation) takes out the sockets that joined with its tokens.
func TestChatRoomTokens(t *testing.T) {
	rs := redistest.Start(t)
	k1 := access.Key{ID: "k1", Secret: []byte(strings.Repeat("1", 32))}
	k2 := access.Key{ID: "k2", Secret: []byte(strings.Repeat("2", 32))}
	keys := func(ks ...access.Key) string {
		out := "    roomTokens:\n      keys:\n"
		for _, k := range ks {
			out += fmt.Sprintf("        - {id: %s, secret: %q}\n", k.ID, k.Secret)
		}
		return out + roomPolicies + `      - {match: "game:*", subscribe: [token], presence: [nobody]}
`
	}
	s, cfg := policyServer(t, map[string]string{"REDIS_URL": rs.URL()}, keys(k1, k2))
	who := policyCallers(t, s)
	in := time.Now().Add(time.Hour)

	oldTok := access.SignToken(k1, "game:1", "user1", in)
	ws := dialChat(t, s, "/ws/chat/game:1?token="+oldTok, who["user1"]...)
	ws.next("joined")
	ws.sendJSON(map[string]string{"type": "message", "text": "with a token", "ref": "1"})
	ws.next("ack")
	// A join frame carries its own token; anonymous callers get tokens too.
	anon := dialChat(t, s, "/ws/chat")
	anon.sendJSON(map[string]string{"type": "join", "room": "game:1", "token": access.SignToken(k2, "game:1", "", in)})
	anon.next("joined")
	anon.sendJSON(map[string]string{"type": "join", "room": "game:2", "token": access.SignToken(k2, "game:1", "", in)})
	if e := anon.next("error", "joined"); e.str("code") != "forbidden" {
		t.Fatalf("a token for game:1 joined game:2: %v", e)
	}

	newTok := access.SignToken(k2, "game:1", "user2", in)
	if _, _, _, err := dialSSEErr(t, s.URL, "/sse/chat/game:1", append(who["user2"], "X-Room-Token", newTok)...); err != nil {
		t.Fatalf("SSE with a token: %v", err)
	}
	b := `{"room":"game:1","message":"posted"}`
	for _, tc := range []struct {
		name string
		tok  string
		want int
	}{
		{"valid", newTok, 200},
		{"none", "", 403},
		{"another user's", oldTok, 403},
		{"another room's", access.SignToken(k2, "game:2", "user2", in), 403},
		{"expired", access.SignToken(k2, "game:1", "user2", time.Now().Add(-time.Second)), 403},
		{"unknown key", access.SignToken(access.Key{ID: "k9", Secret: k2.Secret}, "game:1", "user2", in), 403},
	} {
		r := s.do("POST", "/chat/message", b, append(who["user2"], "X-Room-Token", tc.tok)...)
		if r.Status != tc.want {
			t.Errorf("POST with %s token = %d %s, want %d", tc.name, r.Status, r.Body, tc.want)
		}
		if h := s.do("GET", "/chat/history?room=game:1", "", append(who["user2"], "X-Room-Token", tc.tok)...); h.Status != tc.want {
			t.Errorf("history with %s token = %d, want %d", tc.name, h.Status, tc.want)
		}
	}
	if r := s.do("GET", "/chat/presence?room=game:1", "", append(who["user2"], "X-Room-Token", newTok)...); r.Status != 403 {
		t.Errorf("presence: nobody, even with a token: %d", r.Status)
	}

	// The end of a rotation: k1 is removed; the socket that joined with a
	// k1 token is taken out, the one with a k2 token stays.
	policyConfig(t, cfg, keys(k2))
	if l := ws.next("left"); l.str("reason") != "forbidden" {
		t.Fatalf("after removing k1: %v", l)
	}
	post(t, s, "game:1", "after the rotation", append(who["user2"], "X-Room-Token", newTok)...)
	for anon.next("message").str("text") != "after the rotation" { // earlier messages first
	}
}
