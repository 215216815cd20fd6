package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/redistest"
)

// dialSSE opens GET /sse/chat/... on base (a server's or a proxy's URL) and
// reads its events into a wsClient's channel, so the WebSocket tests'
// helpers (next, messages, assertQuiet) read them too: each event's JSON
// data, with "_event" and "_id" beside, and {"type":"ping"} for a
// heartbeat comment. It returns the response (headers) and a cancel that
// drops the connection.
func dialSSE(t *testing.T, base, path string, headers ...string) (*wsClient, *http.Response, context.CancelFunc) {
	t.Helper()
	c, resp, cancel, err := dialSSEErr(t, base, path, headers...)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return c, resp, cancel
}

func dialSSEErr(t *testing.T, base, path string, headers ...string) (*wsClient, *http.Response, context.CancelFunc, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, resp, nil, fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	wc := &wsClient{t: t, frames: make(chan frame, 100000), done: make(chan struct{})}
	go func() {
		defer close(wc.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		f := frame{}
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if len(f) > 0 {
					wc.frames <- f
				}
				f = frame{}
			case strings.HasPrefix(line, ": ping"):
				wc.frames <- frame{"type": "ping"}
			case strings.HasPrefix(line, "id: "):
				f["_id"] = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				f["_event"] = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &f); err != nil {
					wc.err = fmt.Errorf("data is not JSON: %s", line)
					return
				}
			}
		}
		wc.err = sc.Err()
		if wc.err == nil {
			wc.err = io.EOF
		}
	}()
	t.Cleanup(cancel)
	return wc, resp, cancel, nil
}

// ended waits for the stream to end, failing after 15s.
func (c *wsClient) ended() {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		c.t.Fatal("stream still open after 15s")
	}
}

// TestChatSSE: GET /sse/chat/{room} streams what a socket gets, with the
// stream id as the event id, resumes from Last-Event-ID across instances
// and a restart with the same guarantees, says gap when history no longer
// reaches back, sends heartbeats, and works through an HTTP/1.1 proxy.
func TestChatSSE(t *testing.T) {
	rs := redistest.Start(t, redistest.WithArgs("--stream-node-max-entries", "2"))
	env := map[string]string{"REDIS_URL": rs.URL()}
	cfg := chatConfig(t, "historySize: 20, pingInterval: 300ms, pongTimeout: 300ms")
	addrA := freeAddr(t)
	a := startServerAt(t, addrA, env, cfg...)
	b := startServer(t, env, cfg...)
	a.waitStatus("/readyz", 200, readyWithin)
	b.waitStatus("/readyz", 200, readyWithin)

	t.Run("events, ids, headers, heartbeats", func(t *testing.T) {
		ev, resp, _ := dialSSE(t, a.URL, "/sse/chat/room1")
		for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if w := ev.next("welcome"); w.str("_event") != "welcome" || !strings.HasPrefix(w.str("sender"), "anon-") {
			t.Fatalf("welcome event %v", w)
		}
		ev.next("joined")
		id := post(t, b, "room1", "Hello World!")["id"].(string)
		m := ev.next("message")
		if m.str("_event") != "message" || m.str("_id") != id || m.str("id") != id || m.str("text") != "Hello World!" {
			t.Fatalf("message event %v, want event message with id %s", m, id)
		}
		ev.next("ping") // pingInterval 300ms: a comment line, and the stream stays open
		ev.next("ping")
		if n := a.metric(`redlane_realtime_connections{transport="sse"}`); n != 1 {
			t.Errorf(`redlane_realtime_connections{transport="sse"} = %v, want 1`, n)
		}
	})

	t.Run("Last-Event-ID resumes on another instance, once each, in order", func(t *testing.T) {
		ev, _, drop := dialSSE(t, a.URL, "/sse/chat/lobby")
		ev.next("joined")
		var want []string
		for i := 0; i < 3; i++ {
			want = append(want, post(t, b, "lobby", fmt.Sprint("before-", i))["id"].(string))
		}
		seen := ids(ev.messages(3))
		assertOrdered(t, "before the drop", seen, want)
		drop()
		for i := 0; i < 4; i++ {
			want = append(want, post(t, a, "lobby", fmt.Sprint("missed-", i))["id"].(string))
		}
		again, _, _ := dialSSE(t, b.URL, "/sse/chat/lobby", "Last-Event-ID", seen[2])
		j := again.next("joined")
		if j["resumed"] != true || j["missed"] != 4.0 || j.str("_id") != want[6] {
			t.Fatalf("joined %v, want resumed with 4 missed and id %s", j, want[6])
		}
		want = append(want, post(t, a, "lobby", "live")["id"].(string))
		assertOrdered(t, "after resume", ids(again.messages(5)), want[3:])
		again.assertQuiet(200 * time.Millisecond)
	})

	t.Run("a joined event carries the resume point of a quiet room", func(t *testing.T) {
		ev, _, drop := dialSSE(t, a.URL, "/sse/chat/empty-room")
		j := ev.next("joined")
		drop()
		if j.str("_id") != "0-0" {
			t.Fatalf("joined id %q on an empty room, want 0-0", j.str("_id"))
		}
		id := post(t, b, "empty-room", "while away")["id"].(string)
		again, _, _ := dialSSE(t, b.URL, "/sse/chat/empty-room", "Last-Event-ID", j.str("_id"))
		if got := again.messages(1); got[0].str("id") != id {
			t.Fatalf("resumed from 0-0: %v, want %s", got, id)
		}
	})

	t.Run("a trimmed history is a gap event", func(t *testing.T) {
		first := post(t, a, "busy", "m-0")["id"].(string)
		for i := 1; i < 60; i++ {
			post(t, a, "busy", fmt.Sprint("m-", i))
		}
		ev, _, _ := dialSSE(t, b.URL, "/sse/chat/busy?since="+first)
		gap := ev.next("gap", "message")
		if gap.str("_event") != "gap" || gap.str("after") != first || gap.str("reason") != "history-trimmed" {
			t.Fatalf("first event after a trimmed resume = %v, want a gap", gap)
		}
	})

	t.Run("bad resume points are 400s naming the field", func(t *testing.T) {
		for _, tc := range []struct{ path, hdr, field string }{
			{"/sse/chat/room1", "nope", "Last-Event-ID"},
			{"/sse/chat/room1?since=nope", "", "since"},
			{"/sse/chat/bad%20room", "", "room"},
		} {
			var hs []string
			if tc.hdr != "" {
				hs = []string{"Last-Event-ID", tc.hdr}
			}
			_, resp, _, err := dialSSEErr(t, a.URL, tc.path, hs...)
			if resp == nil || resp.StatusCode != 400 || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("GET %s (Last-Event-ID %q): %v, want 400 naming %s", tc.path, tc.hdr, err, tc.field)
			}
		}
	})

	t.Run("through an HTTP/1.1 reverse proxy", func(t *testing.T) {
		target, _ := url.Parse(a.URL)
		proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
		t.Cleanup(proxy.Close) // after the stream's cancel: Close waits for it
		ev, _, _ := dialSSE(t, proxy.URL, "/sse/chat/proxied")
		ev.next("joined")
		id := post(t, b, "proxied", "through the proxy")["id"].(string)
		if m := ev.next("message"); m.str("_id") != id {
			t.Fatalf("through the proxy: %v, want %s", m, id)
		}
		ev.next("ping")
	})

	t.Run("a restart ends the stream; Last-Event-ID resumes on the new process", func(t *testing.T) {
		ev, _, _ := dialSSE(t, a.URL, "/sse/chat/restart")
		ev.next("joined")
		want := []string{post(t, b, "restart", "before")["id"].(string)}
		last := ev.messages(1)[0].str("_id")
		a.stop()
		ev.ended()
		for i := 0; i < 3; i++ {
			want = append(want, post(t, b, "restart", fmt.Sprint("during-", i))["id"].(string))
		}
		a2 := startServerAt(t, addrA, env, cfg...)
		a2.waitStatus("/readyz", 200, readyWithin)
		again, _, _ := dialSSE(t, a2.URL, "/sse/chat/restart", "Last-Event-ID", last)
		assertOrdered(t, "after the restart", ids(again.messages(3)), want[1:])
	})
}
