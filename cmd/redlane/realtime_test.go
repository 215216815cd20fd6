package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/redistest"
)

// chatConfig writes a RedlaneConfig with the given realtime settings
// (YAML flow mapping body) and returns the serve args that load it.
func chatConfig(t *testing.T, realtime string) []string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "redlane.yaml")
	writeFile(t, p, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  realtime: {"+realtime+"}\n")
	return []string{"--config", p}
}

// noPublishLimits (a realtime flow-mapping entry) lifts spec.realtime.
// publishRate for tests that publish in bulk on purpose.
const noPublishLimits = "publishRate: {perConnection: {limit: 1000000, period: 1s}, perSender: {limit: 1000000, period: 1s}}"

// frame is one server frame as the test sees it.
type frame map[string]any

func (f frame) str(k string) string { s, _ := f[k].(string); return s }

// wsClient reads every frame into a channel, so tests can wait for frames
// with a deadline and never block the socket.
type wsClient struct {
	t       *testing.T
	c       *websocket.Conn
	frames  chan frame
	done    chan struct{}
	err     error   // read error once done is closed
	backlog []frame // frames skipped by next, oldest first
}

func dialChat(t *testing.T, s *server, path string, headers ...string) *wsClient {
	t.Helper()
	c, err := dialChatErr(t, s, path, nil, headers...)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	return c
}

func dialChatErr(t *testing.T, s *server, path string, d *websocket.Dialer, headers ...string) (*wsClient, error) {
	t.Helper()
	if d == nil {
		d = &websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	}
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(s.URL, "http")+path, h)
	if err != nil {
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			return nil, fmt.Errorf("%w: %d %s", err, resp.StatusCode, b)
		}
		return nil, err
	}
	wc := &wsClient{t: t, c: conn, frames: make(chan frame, 100000), done: make(chan struct{})}
	go func() {
		defer close(wc.done)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				wc.err = err
				return
			}
			var f frame
			if err := json.Unmarshal(data, &f); err != nil {
				wc.err = fmt.Errorf("frame is not JSON: %s", data)
				return
			}
			wc.frames <- f
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return wc, nil
}

// next returns the next frame whose type is one of types, failing after
// 10s. Frames of other types are kept, in order, for later calls.
func (c *wsClient) next(types ...string) frame {
	c.t.Helper()
	match := func(f frame) bool { return slices.Contains(types, f.str("type")) }
	for i, f := range c.backlog {
		if match(f) {
			c.backlog = append(c.backlog[:i:i], c.backlog[i+1:]...)
			return f
		}
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f := <-c.frames:
			if match(f) {
				return f
			}
			c.backlog = append(c.backlog, f)
		case <-c.done:
			select {
			case f := <-c.frames: // what arrived before the close
				if match(f) {
					return f
				}
				c.backlog = append(c.backlog, f)
				continue
			default:
			}
			c.t.Fatalf("socket closed (%v) while waiting for %v", c.err, types)
		case <-timeout:
			c.t.Fatalf("no %v frame within 10s", types)
		}
	}
}

// messages collects the next n message frames, failing on a gap frame.
func (c *wsClient) messages(n int) []frame {
	c.t.Helper()
	out := make([]frame, 0, n)
	for len(out) < n {
		f := c.next("message", "gap")
		if f.str("type") == "gap" {
			c.t.Fatalf("unexpected gap frame %v after %d messages", f, len(out))
		}
		out = append(out, f)
	}
	return out
}

func (c *wsClient) sendJSON(v any) {
	c.t.Helper()
	if err := c.c.WriteJSON(v); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// closeCode waits for the socket to close and returns the close code the
// server sent (0 when none arrived).
func (c *wsClient) closeCode() int {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		c.t.Fatal("socket still open after 15s")
	}
	var ce *websocket.CloseError
	if errors.As(c.err, &ce) {
		return ce.Code
	}
	return 0
}

func (c *wsClient) assertQuiet(d time.Duration) {
	c.t.Helper()
	check := func(f frame) {
		if ty := f.str("type"); ty == "message" || ty == "gap" {
			c.t.Fatalf("unexpected %s frame: %v", ty, f)
		}
	}
	for _, f := range c.backlog {
		check(f)
	}
	deadline := time.After(d)
	for {
		select {
		case f := <-c.frames:
			check(f)
			c.backlog = append(c.backlog, f)
		case <-deadline:
			return
		}
	}
}

func post(t *testing.T, s *server, room, text string, headers ...string) map[string]any {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"room": room, "message": text})
	r := s.do("POST", "/chat/message", string(b), headers...)
	if r.Status != 200 {
		t.Fatalf("POST /chat/message = %d %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

func ids(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.str("id")
	}
	return out
}

// assertOrdered fails unless got is want, in order.
func assertOrdered(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s: got %d ids, want %d\n got: %v\nwant: %v", what, len(got), len(want), got, want)
	}
}

func TestChatSeedUsage(t *testing.T) {
	rs := redistest.Start(t)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()}, chatConfig(t, "maxMessageBytes: 64, maxFrameBytes: 1024")...)
	s.waitStatus("/readyz", 200, readyWithin)

	// wscat -c ws://localhost:8000/ws/chat/room1
	ws := dialChat(t, s, "/ws/chat/room1")
	welcome := ws.next("welcome")
	ws.next("joined")

	t.Run("curl POST reaches the socket", func(t *testing.T) {
		ans := post(t, s, "room1", "Hello World!")
		m := ws.messages(1)[0]
		if m.str("id") != ans["id"] || m.str("room") != "room1" || m.str("text") != "Hello World!" ||
			m.str("sender") != "anonymous" || m.str("timestamp") == "" {
			t.Fatalf("message %v, POST answered %v", m, ans)
		}
	})
	t.Run("typing on the socket sends to its room", func(t *testing.T) {
		if err := ws.c.WriteMessage(websocket.TextMessage, []byte("hi from wscat")); err != nil {
			t.Fatal(err)
		}
		m := ws.messages(1)[0]
		if m.str("text") != "hi from wscat" || m.str("sender") != welcome.str("sender") || !strings.HasPrefix(m.str("sender"), "anon-") {
			t.Fatalf("message %v (welcome %v)", m, welcome)
		}
	})
	t.Run("rooms, history and presence", func(t *testing.T) {
		r := s.do("GET", "/chat/rooms", "")
		if r.Status != 200 || !strings.Contains(string(r.Body), `{"room":"room1","members":1}`) {
			t.Fatalf("GET /chat/rooms = %d %s", r.Status, r.Body)
		}
		h := s.do("GET", "/chat/history?room=room1&limit=1", "").JSON(t)
		msgs, _ := h["messages"].([]any)
		if len(msgs) != 1 || msgs[0].(map[string]any)["text"] != "hi from wscat" || h["nextBefore"] == nil {
			t.Fatalf("history page 1 = %v", h)
		}
		h2 := s.do("GET", "/chat/history?room=room1&limit=5&before="+h["nextBefore"].(string), "").JSON(t)
		msgs2, _ := h2["messages"].([]any)
		if len(msgs2) != 1 || msgs2[0].(map[string]any)["text"] != "Hello World!" || h2["nextBefore"] != nil {
			t.Fatalf("history page 2 = %v", h2)
		}
		p := s.do("GET", "/chat/presence?room=room1", "").JSON(t)
		if p["count"] != 1.0 || !strings.Contains(fmt.Sprint(p["members"]), welcome.str("connection")) {
			t.Fatalf("presence = %v", p)
		}
	})
	t.Run("idempotency key publishes once", func(t *testing.T) {
		a := post(t, s, "room1", "once", "Idempotency-Key", "k-123")
		b := post(t, s, "room1", "once", "Idempotency-Key", "k-123")
		if a["id"] != b["id"] || a["duplicate"] != false || b["duplicate"] != true {
			t.Fatalf("idempotent answers %v then %v", a, b)
		}
		if got := ws.messages(1)[0]; got.str("id") != a["id"] {
			t.Fatalf("got %v", got)
		}
		ws.assertQuiet(300 * time.Millisecond)
	})
	t.Run("bad input is a 4xx naming the field", func(t *testing.T) {
		tests := []struct {
			method, path, body string
			status             int
			field              string
		}{
			{"POST", "/chat/message", `{"room":"bad room","message":"x"}`, 422, "room"},
			{"POST", "/chat/message", `{"room":"{x}","message":"x"}`, 422, "room"},
			{"POST", "/chat/message", `{"room":"r","message":""}`, 422, "message"},
			{"POST", "/chat/message", `{"room":"r","message":"` + strings.Repeat("x", 65) + `"}`, 422, "message"},
			{"POST", "/chat/message", `{"room":"r","message":"x","sender":"admin"}`, 400, "sender"},
			{"GET", "/chat/history?room=" + strings.Repeat("r", 129), "", 400, "room"},
			{"GET", "/chat/history?room=r&limit=0", "", 400, "limit"},
			{"GET", "/chat/history?room=r&before=yesterday", "", 400, "before"},
			{"GET", "/ws/chat/bad*room", "", 400, "room"},
			{"GET", "/ws/chat/room1?since=notanid", "", 400, "since"},
		}
		for _, tc := range tests {
			r := s.do(tc.method, tc.path, tc.body)
			if r.Status != tc.status || !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
				t.Errorf("%s %s %s = %d %s, want %d naming %s", tc.method, tc.path, tc.body, r.Status, r.Body, tc.status, tc.field)
			}
		}
		if r := s.do("GET", "/ws/chat/room1", ""); r.Status != 426 {
			t.Errorf("plain GET of a socket = %d %s, want 426", r.Status, r.Body)
		}
		if _, err := dialChatErr(t, s, "/ws/chat/room1", nil, "Origin", "https://evil.example"); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("foreign origin dial = %v, want 403", err)
		}
	})
	t.Run("bad frames get error frames, the socket stays", func(t *testing.T) {
		ws.sendJSON(map[string]string{"type": "join", "room": "no such/room", "ref": "j1"})
		if e := ws.next("error"); e.str("code") != "invalid-room" || e.str("ref") != "j1" {
			t.Fatalf("error frame %v", e)
		}
		ws.sendJSON(map[string]string{"type": "message", "text": strings.Repeat("y", 65), "ref": "m1"})
		if e := ws.next("error"); e.str("code") != "invalid-message" {
			t.Fatalf("error frame %v", e)
		}
		ws.sendJSON(map[string]string{"type": "dance"})
		if e := ws.next("error"); e.str("code") != "unknown-type" {
			t.Fatalf("error frame %v", e)
		}
		ws.sendJSON(map[string]string{"type": "message", "room": "elsewhere", "text": "x"})
		if e := ws.next("error"); e.str("code") != "not-joined" {
			t.Fatalf("error frame %v", e)
		}
		ws.sendJSON(map[string]string{"type": "message", "text": "still here", "ref": "m2"})
		a := ws.next("ack")
		if a.str("ref") != "m2" || a.str("id") == "" {
			t.Fatalf("ack %v", a)
		}
		if m := ws.messages(1)[0]; m.str("id") != a.str("id") || m.str("text") != "still here" {
			t.Fatalf("message %v after ack %v", m, a)
		}
	})
	t.Run("join and leave more rooms up to the limit", func(t *testing.T) {
		ws.sendJSON(map[string]string{"type": "join", "room": "room2", "ref": "j2"})
		if j := ws.next("joined", "error"); j.str("type") != "joined" || j.str("room") != "room2" {
			t.Fatalf("join room2: %v", j)
		}
		post(t, s, "room2", "to room2")
		if m := ws.messages(1)[0]; m.str("room") != "room2" || m.str("text") != "to room2" {
			t.Fatalf("got %v", m)
		}
		ws.sendJSON(map[string]string{"type": "leave", "room": "room2"})
		ws.next("left")
		post(t, s, "room2", "not for you")
		ws.assertQuiet(300 * time.Millisecond)
	})
	t.Run("oversized frame closes with 1009", func(t *testing.T) {
		big := dialChat(t, s, "/ws/chat/room1")
		big.next("joined")
		if err := big.c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("z", 2000))); err != nil {
			t.Fatal(err)
		}
		if code := big.closeCode(); code != websocket.CloseMessageTooBig {
			t.Fatalf("close code %d (%v), want 1009", code, big.err)
		}
	})
}

// crossInstance runs two instances on one Redis (standalone or Cluster) and
// checks that members on both get every message, from both, in one order.
func crossInstance(t *testing.T, env map[string]string) (a, b *server, want map[string][]string) {
	// 250 messages from one client as fast as it can: publish rates off.
	cfg := chatConfig(t, noPublishLimits)
	a = startServer(t, env, cfg...)
	b = startServer(t, env, cfg...)
	a.waitStatus("/readyz", 200, readyWithin)
	b.waitStatus("/readyz", 200, readyWithin)

	rooms := []string{"alpha", "beta", "gamma", "delta"} // spread over Cluster slots
	type member struct {
		ws   *wsClient
		room string
	}
	var members []member
	for i, room := range rooms {
		for _, s := range []*server{a, b} {
			ws := dialChat(t, s, "/ws/chat/"+room)
			ws.next("joined")
			members = append(members, member{ws, room})
		}
		_ = i
	}
	pubA := dialChat(t, a, "/ws/chat/alpha")
	pubA.next("joined")

	const perRoom = 60
	want = map[string][]string{}
	for i := 0; i < perRoom; i++ {
		for j, room := range rooms {
			s := []*server{a, b}[(i+j)%2]
			ans := post(t, s, room, fmt.Sprintf("%s-%d", room, i))
			want[room] = append(want[room], ans["id"].(string))
		}
	}
	// Messages sent on a socket join the same order.
	for i := 0; i < 10; i++ {
		pubA.sendJSON(map[string]string{"type": "message", "text": fmt.Sprintf("ws-%d", i), "ref": fmt.Sprint(i)})
		ack := pubA.next("ack")
		want["alpha"] = append(want["alpha"], ack.str("id"))
	}
	for _, m := range members {
		got := m.ws.messages(len(want[m.room]))
		assertOrdered(t, "room "+m.room, ids(got), want[m.room])
		m.ws.assertQuiet(100 * time.Millisecond)
	}
	// Member counts cover both instances (and the publisher socket).
	for _, s := range []*server{a, b} {
		r := s.do("GET", "/chat/rooms", "")
		for _, room := range rooms {
			n := 2
			if room == "alpha" {
				n = 3
			}
			if !strings.Contains(string(r.Body), fmt.Sprintf(`{"room":"%s","members":%d}`, room, n)) {
				t.Fatalf("GET /chat/rooms on %s = %s, want %s with %d members", s.URL, r.Body, room, n)
			}
		}
	}
	return a, b, want
}

func TestChatAcrossInstancesStandalone(t *testing.T) {
	rs := redistest.Start(t)
	crossInstance(t, map[string]string{"REDIS_URL": rs.URL()})
}

func TestChatAcrossInstancesCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	a, b, want := crossInstance(t, map[string]string{"REDIS_ADDRS": strings.Join(c.Addrs(), ",")})
	// Resume and idempotency work the same on a Cluster.
	ws := dialChat(t, b, "/ws/chat/gamma?since="+want["gamma"][9])
	assertOrdered(t, "resume on the Cluster", ids(ws.messages(len(want["gamma"])-10)), want["gamma"][10:])
	ev, _, _ := dialSSE(t, a.URL, "/sse/chat/gamma", "Last-Event-ID", want["gamma"][9])
	assertOrdered(t, "SSE resume on the Cluster", ids(ev.messages(len(want["gamma"])-10)), want["gamma"][10:])
	first := post(t, a, "delta", "once", "Idempotency-Key", "cluster-key")
	if again := post(t, b, "delta", "once", "Idempotency-Key", "cluster-key"); again["id"] != first["id"] || again["duplicate"] != true {
		t.Fatalf("idempotent publish on the Cluster: %v then %v", first, again)
	}
	// Sharded pub/sub: the room channels are shard channels on their nodes,
	// and nothing was broadcast with plain PUBLISH.
	cc := c.Client()
	ctx := context.Background()
	var mu sync.Mutex
	var found []string
	_ = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		chs, err := n.PubSubShardChannels(ctx, "redlane:chat:*").Result()
		mu.Lock()
		defer mu.Unlock()
		found = append(found, chs...)
		return err
	})
	for _, room := range []string{"alpha", "beta", "gamma", "delta"} {
		if !slices.Contains(found, "redlane:chat:{"+room+"}") {
			t.Errorf("room %s is not a shard channel on any master (found %v)", room, found)
		}
	}
}

func TestChatResume(t *testing.T) {
	// Small stream nodes, so MAXLEN ~ trims at a fine grain and the test
	// can push a room's history past its size.
	rs := redistest.Start(t, redistest.WithArgs("--stream-node-max-entries", "2"))
	env := map[string]string{"REDIS_URL": rs.URL()}
	a := startServer(t, env, chatConfig(t, "historySize: 20")...)
	b := startServer(t, env, chatConfig(t, "historySize: 20")...)
	a.waitStatus("/readyz", 200, readyWithin)
	b.waitStatus("/readyz", 200, readyWithin)

	t.Run("reconnect with since gets what was missed, then live, once each", func(t *testing.T) {
		ws := dialChat(t, a, "/ws/chat/lobby")
		ws.next("joined")
		var want []string
		for i := 0; i < 3; i++ {
			want = append(want, post(t, b, "lobby", fmt.Sprint("before-", i))["id"].(string))
		}
		seen := ids(ws.messages(3))
		assertOrdered(t, "before disconnect", seen, want)
		ws.c.Close()

		for i := 0; i < 5; i++ {
			want = append(want, post(t, b, "lobby", fmt.Sprint("missed-", i))["id"].(string))
		}
		// Publish continuously while the client resumes on the other
		// instance, so the history -> live switch happens under traffic.
		stop := make(chan struct{})
		var mu sync.Mutex
		pubDone := make(chan struct{})
		go func() {
			defer close(pubDone)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				b2, _ := json.Marshal(map[string]string{"room": "lobby", "message": fmt.Sprint("during-", i)})
				resp, err := http.Post(b.URL+"/chat/message", "application/json", strings.NewReader(string(b2)))
				if err != nil {
					return
				}
				var ans map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&ans)
				resp.Body.Close()
				mu.Lock()
				want = append(want, ans["id"].(string))
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
		again := dialChat(t, b, "/ws/chat/lobby?since="+seen[2])
		j := again.next("joined")
		time.Sleep(100 * time.Millisecond)
		close(stop)
		<-pubDone
		if j.str("type") != "joined" || j["resumed"] != true {
			t.Fatalf("joined frame %v", j)
		}
		mu.Lock()
		rest := append([]string{}, want[3:]...)
		mu.Unlock()
		got := again.messages(len(rest))
		assertOrdered(t, "after resume", ids(got), rest)
		again.assertQuiet(200 * time.Millisecond)
	})

	t.Run("resume by first frame on a room-less socket", func(t *testing.T) {
		first := post(t, a, "frames", "one")["id"].(string)
		second := post(t, a, "frames", "two")["id"].(string)
		ws := dialChat(t, b, "/ws/chat")
		ws.next("welcome")
		ws.sendJSON(map[string]string{"type": "join", "room": "frames", "since": first})
		got := ws.messages(1)
		j := ws.next("joined")
		if got[0].str("id") != second || j["missed"] != 1.0 || j.str("lastId") != second {
			t.Fatalf("replayed %v, joined %v", got, j)
		}
	})

	t.Run("a gap older than retention is reported, never silent", func(t *testing.T) {
		first := post(t, a, "busy", "m-0")["id"].(string)
		var last string
		for i := 1; i < 60; i++ {
			last = post(t, a, "busy", fmt.Sprint("m-", i))["id"].(string)
		}
		ws := dialChat(t, b, "/ws/chat/busy?since="+first)
		gap := ws.next("gap", "message")
		if gap.str("type") != "gap" || gap.str("after") != first || gap.str("reason") != "history-trimmed" {
			t.Fatalf("first frame after a trimmed resume = %v, want a gap", gap)
		}
		var got []frame
		for {
			f := ws.next("message", "joined")
			if f.str("type") == "joined" {
				break
			}
			got = append(got, f)
		}
		if len(got) == 0 || len(got) >= 59 || got[0].str("id") != gap.str("next") || got[len(got)-1].str("id") != last {
			t.Fatalf("after the gap got %d messages (first %v), want the retained tail up to %s", len(got), got[0], last)
		}
	})

	t.Run("a quiet room resumes without a gap", func(t *testing.T) {
		id := post(t, a, "quiet", "only")["id"].(string)
		ws := dialChat(t, b, "/ws/chat/quiet?since="+id)
		if j := ws.next("joined", "gap", "message"); j.str("type") != "joined" || j["missed"] != 0.0 {
			t.Fatalf("got %v", j)
		}
	})
}

func TestChatSurvivesRedisRestart(t *testing.T) {
	// appendfsync always: what Redis acknowledged survives the kill, as
	// with a production Redis that persists.
	rs := redistest.Start(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	env := map[string]string{"REDIS_URL": rs.URL()}
	a := startServer(t, env)
	b := startServer(t, env)
	a.waitStatus("/readyz", 200, readyWithin)
	b.waitStatus("/readyz", 200, readyWithin)
	ws := dialChat(t, a, "/ws/chat/phoenix")
	ws.next("joined")

	var acked []string
	publish := func(n int, tag string) {
		for i := 0; i < n; i++ {
			b2, _ := json.Marshal(map[string]string{"room": "phoenix", "message": fmt.Sprint(tag, i)})
			r := b.do("POST", "/chat/message", string(b2))
			if r.Status == 200 {
				acked = append(acked, r.JSON(t)["id"].(string))
			} else if r.Status != 503 {
				t.Fatalf("publish during outage = %d %s, want 200 or 503", r.Status, r.Body)
			}
		}
	}
	publish(5, "before-")
	rs.Stop()
	publish(3, "down-") // 503s: nothing is acknowledged while Redis is down
	a.waitStatus("/readyz", 503, 10*time.Second)
	// A new room cannot be set up without Redis: the socket is told to retry.
	late := dialChat(t, a, "/ws/chat/elsewhere")
	if e := late.next("error"); e.str("code") != "unavailable" {
		t.Fatalf("join during the outage: %v", e)
	}
	if code := late.closeCode(); code != 1013 {
		t.Fatalf("close code %d (%v), want 1013", code, late.err)
	}
	if r := a.do("GET", "/chat/rooms", ""); r.Status != 503 {
		t.Fatalf("GET /chat/rooms during the outage = %d %s", r.Status, r.Body)
	}
	rs.Restart()
	// Publish through b as soon as it can, racing a's resubscription: what
	// a's subscription misses must come from history.
	deadline := time.Now().Add(15 * time.Second)
	for len(acked) < 25 && time.Now().Before(deadline) {
		publish(1, "after-")
	}
	a.waitStatus("/readyz", 200, readyWithin)
	publish(5, "settled-")
	got := ws.messages(len(acked))
	assertOrdered(t, "across the restart", ids(got), acked)
	ws.assertQuiet(200 * time.Millisecond)
	m := string(a.do("GET", "/metrics", "").Body)
	if v, ok := seriesValue(m, "redlane_realtime_pubsub_connection_errors_total"); !ok || v == 0 {
		t.Fatalf("the subscription never noticed the restart:\n%s", m)
	}
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, "redlane_realtime_catchup_messages_total") || strings.HasPrefix(line, "redlane_realtime_pubsub_connection_errors_total") {
			t.Log(line)
		}
	}
}

func TestChatSlowConsumerIsDisconnected(t *testing.T) {
	rs := redistest.Start(t)
	// The publisher outpaces a slow reader on purpose: publish rates off.
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()}, chatConfig(t, "sendQueueSize: 32, maxMessageBytes: 8192, maxFrameBytes: 16384, "+noPublishLimits)...)
	s.waitStatus("/readyz", 200, readyWithin)

	// The slow client reads nothing and has a tiny receive buffer, so the
	// server's socket buffer fills and its queue backs up.
	small := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	d := &websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: small.DialContext}
	h := http.Header{}
	slow, _, err := d.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/ws/chat/firehose", h)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast := dialChat(t, s, "/ws/chat/firehose")
	fast.next("joined")
	pub := dialChat(t, s, "/ws/chat/firehose")
	pub.next("joined")

	text := strings.Repeat("x", 8000)
	var acked []string
	for i := 0; i < 1500 && s.metric("redlane_realtime_slow_consumer_disconnects_total") == 0; i++ {
		for j := 0; j < 20; j++ {
			pub.sendJSON(map[string]string{"type": "message", "text": text, "ref": "r"})
		}
		for j := 0; j < 20; j++ {
			acked = append(acked, pub.next("ack").str("id"))
		}
	}
	t.Logf("slow consumer dropped after %d messages of 8 KB", len(acked))
	if n := s.metric("redlane_realtime_slow_consumer_disconnects_total"); n != 1 {
		t.Fatalf("%v slow consumers disconnected after %d messages, want exactly the 1", n, len(acked))
	}
	// The fast member got every message in order: the room did not wait.
	got := fast.messages(len(acked))
	assertOrdered(t, "fast member", ids(got), acked)
	// The slow one, once it reads, finds its socket closed with 4008: a
	// read timeout or a reset without that close frame fails the test.
	_ = slow.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		if _, _, err := slow.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4008 {
				t.Fatalf("slow consumer's socket ended with %v, want a close frame with code 4008", err)
			}
			break
		}
	}
}

func TestChatPresenceOfACrashedInstanceExpires(t *testing.T) {
	rs := redistest.Start(t)
	cfg := chatConfig(t, "presenceTTL: 900ms")
	a := startServer(t, map[string]string{"REDIS_URL": rs.URL()}, cfg...)
	// b reaches Redis through a proxy; cutting it is b dying as far as
	// Redis can tell: it can neither refresh nor remove its entries.
	proxy := redistest.NewProxy(t, rs.Addr())
	b := startServer(t, map[string]string{"REDIS_URL": "redis://" + proxy.Addr() + "/0"}, cfg...)
	a.waitStatus("/readyz", 200, readyWithin)
	b.waitStatus("/readyz", 200, readyWithin)

	onA := dialChat(t, a, "/ws/chat/town")
	onA.next("joined")
	onB := dialChat(t, b, "/ws/chat/town")
	onB.next("joined")
	time.Sleep(time.Second) // several refreshes: entries stay while their instance lives
	if r := a.do("GET", "/chat/presence?room=town", ""); r.JSON(t)["count"] != 2.0 {
		t.Fatalf("presence with both alive = %s", r.Body)
	}
	proxy.Cut()
	waitFor(t, func() bool {
		r := a.do("GET", "/chat/rooms", "")
		return strings.Contains(string(r.Body), `{"room":"town","members":1}`)
	})
	p := a.do("GET", "/chat/presence?room=town", "").JSON(t)
	if p["count"] != 1.0 {
		t.Fatalf("presence after b died = %v", p)
	}
}

func TestChatShutdownClosesSocketsWithGoingAway(t *testing.T) {
	rs := redistest.Start(t)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()})
	s.waitStatus("/readyz", 200, readyWithin)
	ws := dialChat(t, s, "/ws/chat/room1")
	ws.next("joined")
	idle := dialChat(t, s, "/ws/chat")
	idle.next("welcome")
	stopped := make(chan struct{})
	go func() { s.stop(); close(stopped) }()
	defer func() { <-stopped }()
	for _, c := range []*wsClient{ws, idle} {
		if code := c.closeCode(); code != websocket.CloseGoingAway {
			t.Fatalf("close code %d (%v), want 1001", code, c.err)
		}
	}
}

func TestChatOnEmbeddedRedis(t *testing.T) {
	s := startServer(t, map[string]string{})
	s.waitStatus("/readyz", 200, readyWithin)
	ws := dialChat(t, s, "/ws/chat/room1")
	ws.next("joined")
	first := post(t, s, "room1", "Hello World!")["id"].(string)
	second := post(t, s, "room1", "again")["id"].(string)
	assertOrdered(t, "embedded", ids(ws.messages(2)), []string{first, second})
	again := dialChat(t, s, "/ws/chat/room1?since="+first)
	if got := again.messages(1); got[0].str("id") != second {
		t.Fatalf("resume on embedded Redis replayed %v", got)
	}
	if !strings.Contains(s.logs.String(), "realtime: embedded Redis") {
		t.Error("no log line saying how chat runs on the embedded Redis")
	}
}

func TestChatDropsSilentClients(t *testing.T) {
	rs := redistest.Start(t)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()}, chatConfig(t, "pingInterval: 200ms, pongTimeout: 300ms")...)
	s.waitStatus("/readyz", 200, readyWithin)
	alive := dialChat(t, s, "/ws/chat/room1") // reads, so it answers pings
	alive.next("joined")
	// A client that never reads never answers a ping.
	silent, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/ws/chat/room1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	waitFor(t, func() bool { // both joined
		return s.do("GET", "/chat/presence?room=room1", "").JSON(t)["count"] == 2.0
	})
	waitFor(t, func() bool { // the silent one was dropped
		return s.do("GET", "/chat/presence?room=room1", "").JSON(t)["count"] == 1.0
	})
	id := post(t, s, "room1", "still there?")["id"].(string)
	if got := alive.messages(1); got[0].str("id") != id {
		t.Fatalf("alive client got %v", got)
	}
}

func TestChatWithSessions(t *testing.T) {
	rs := redistest.Start(t)
	cfg := filepath.Join(t.TempDir(), "redlane.yaml")
	writeFile(t, cfg, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  realtime: {requireAuthentication: true}\n"+demoUsersSpec)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()}, "--config", cfg)
	s.waitStatus("/readyz", 200, readyWithin)
	login := s.do("POST", "/auth/login", `{"username":"user1","password":"password123"}`)
	if login.Status != 200 {
		t.Fatalf("login = %d %s", login.Status, login.Body)
	}
	token := login.JSON(t)["session_token"].(string)

	if _, err := dialChatErr(t, s, "/ws/chat/room1", nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("anonymous socket with requireAuthentication = %v, want 401", err)
	}
	if r := s.do("POST", "/chat/message", `{"room":"room1","message":"x"}`); r.Status != 401 {
		t.Fatalf("anonymous POST = %d %s", r.Status, r.Body)
	}
	ws := dialChat(t, s, "/ws/chat/room1", "Authorization", "Bearer "+token)
	if w := ws.next("welcome"); w.str("sender") != "user1" {
		t.Fatalf("welcome %v", w)
	}
	ws.next("joined")
	post(t, s, "room1", "signed in", "Authorization", "Bearer "+token)
	if m := ws.messages(1)[0]; m.str("sender") != "user1" || m.str("text") != "signed in" {
		t.Fatalf("message %v", m)
	}
	if r := s.do("GET", "/chat/presence?room=room1", ""); !strings.Contains(string(r.Body), `"sender":"user1"`) {
		t.Fatalf("presence %s", r.Body)
	}
}
