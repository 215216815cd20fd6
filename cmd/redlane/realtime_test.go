package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

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

// frame is one server frame as the test sees it.
type frame map[string]any

func (f frame) str(k string) string { s, _ := f[k].(string); return s }

// wsClient reads every frame into a channel, so tests can wait for frames
// with a deadline and never block the socket.
type wsClient struct {
	t      *testing.T
	c      *websocket.Conn
	frames chan frame
	done   chan struct{}
	err    error // read error once done is closed
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

// next returns the next frame whose type is one of types (others are
// skipped), failing after 10s.
func (c *wsClient) next(types ...string) frame {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f := <-c.frames:
			for _, ty := range types {
				if f.str("type") == ty {
					return f
				}
			}
		case <-c.done:
			// drain what arrived before the close
			select {
			case f := <-c.frames:
				for _, ty := range types {
					if f.str("type") == ty {
						return f
					}
				}
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
	deadline := time.After(d)
	for {
		select {
		case f := <-c.frames:
			if ty := f.str("type"); ty == "message" || ty == "gap" {
				c.t.Fatalf("unexpected %s frame: %v", ty, f)
			}
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
	s.waitStatus("/readyz", 200, 5*time.Second)

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
			{"GET", "/chat/history?room=" + strings.Repeat("r", 65), "", 400, "room"},
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
		if a := ws.next("ack"); a.str("ref") != "m2" || a.str("id") == "" {
			t.Fatalf("ack %v", a)
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
