package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

func TestPublishTimes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame string
		want  []int64
	}{
		{"redlane message", `{"type":"message","id":"1-0","room":"load-0","sender":"s","text":"lt:1700000000000000001:7:xxxx","timestamp":"t"}`, []int64{1700000000000000001}},
		{"centrifugo push", `{"push":{"channel":"load-0","pub":{"data":{"text":"lt:42:0:xx"},"offset":3}}}`, []int64{42}},
		{"centrifugo pushes joined in one frame, with a ping", `{"push":{"channel":"load-0","pub":{"data":{"text":"lt:1:0:x"},"offset":1}}}` + "\n{}\n" +
			`{"push":{"channel":"load-0","pub":{"data":{"text":"lt:2:1:x"},"offset":2}}}`, []int64{1, 2}},
		{"reply to a command", `{"id":2,"subscribe":{}}`, nil},
		{"bad number skipped, next one read", `"text":"lt:abc:" "text":"lt:5:"`, []int64{5}},
		{"cut after the key", `"text":"lt:123`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int64
			publishTimes([]byte(tc.frame), func(ns int64) { got = append(got, ns) })
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCentrifugoAnswersPingsOnly(t *testing.T) {
	c := centrifugo{apiKey: "k"}
	for frame, pong := range map[string]bool{
		`{}`:                    true,
		"{\"push\":{}}\n{}":     true,
		"{}\n{\"push\":{}}":     true,
		`{"push":{"pub":{}}}`:   false,
		`{"id":1,"connect":{}}`: false,
		"":                      false,
	} {
		if got := c.answer([]byte(frame)) != nil; got != pong {
			t.Errorf("answer(%q) = %v, want %v", frame, got, pong)
		}
	}
}

// TestCentrifugoJoin runs the connect and subscribe exchange against a
// stand-in speaking the same JSON frames: replies may share a frame with
// other lines, and a refused subscribe is an error.
func TestCentrifugoJoin(t *testing.T) {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/connection/websocket" {
			http.NotFound(w, r)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			_, cmd, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var reply string
			switch {
			case strings.Contains(string(cmd), `"connect"`):
				reply = "{}\n" + `{"id":1,"connect":{"client":"x","ping":25,"pong":true}}`
			case strings.Contains(string(cmd), `"channel":"denied"`):
				reply = `{"id":2,"error":{"code":103,"message":"permission denied"}}`
			default:
				reply = `{"id":2,"subscribe":{}}`
			}
			if ws.WriteMessage(websocket.TextMessage, []byte(reply)) != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c := centrifugo{apiKey: "k"}
	ws, err := c.join(context.Background(), websocket.DefaultDialer, srv.URL, "load-0")
	if err != nil {
		t.Fatal(err)
	}
	ws.Close()
	if _, err := c.join(context.Background(), websocket.DefaultDialer, srv.URL, "denied"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("refused subscribe: err = %v", err)
	}
}

func TestCentrifugoPublishReportsAPIErrors(t *testing.T) {
	var gotKey, gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotKey = r.Header.Get("X-API-Key")
		b := make([]byte, 512)
		n, _ := r.Body.Read(b)
		gotBody = string(b[:n])
		if strings.Contains(gotBody, `"channel":"bad"`) {
			_, _ = w.Write([]byte(`{"error":{"code":102,"message":"unknown channel"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"result":{}}`))
	}))
	defer srv.Close()
	c := centrifugo{apiKey: "secret"}
	if err := c.publish(context.Background(), srv.Client(), srv.URL, "load-0", "lt:1:0:x"); err != nil {
		t.Fatal(err)
	}
	if gotKey != "secret" || gotBody != `{"channel":"load-0","data":{"text":"lt:1:0:x"}}` {
		t.Fatalf("key %q body %s", gotKey, gotBody)
	}
	if err := c.publish(context.Background(), srv.Client(), srv.URL, "bad", "lt:1:0:x"); err == nil {
		t.Fatal("an API error inside a 200 must fail the publish")
	}
}
