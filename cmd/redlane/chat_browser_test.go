package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/redlane/redlane/internal/redistest"
)

// chatter is one person on the chat page, in a tab with its own cookies.
type chatter struct{ *tab }

// open loads the chat page in room and waits until the socket has joined.
func (c chatter) open(base, room string) {
	c.t.Helper()
	c.do(30*time.Second, chromedp.Navigate(base+"/#"+room))
	c.waitLive()
}

func (c chatter) waitLive() {
	c.t.Helper()
	c.wait(`document.body.dataset.chat === "live"`, 30*time.Second)
}

// send types a message and presses Send.
func (c chatter) send(text string) {
	c.t.Helper()
	c.do(10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#composer-input"), text),
		chromedp.Click(chromedp.CSS("#send")),
	)
}

// sees waits until a delivered message (not a pending one) with text is
// shown, and returns its sender.
func (c chatter) sees(text string) string {
	c.t.Helper()
	find := `[...document.querySelectorAll("#messages li.msg:not(.pending)")].find(li => li.querySelector(".text").textContent === ` + js(text) + `)`
	c.wait(find, 30*time.Second)
	return eval[string](c.tab, find+`.querySelector(".who").firstChild.textContent`)
}

// texts lists the delivered messages shown, in page order.
func (c chatter) texts() []string {
	c.t.Helper()
	return eval[[]string](c.tab, `[...document.querySelectorAll("#messages li.msg:not(.pending) .text")].map(e => e.textContent)`)
}

// requireOnce fails unless each text is shown exactly once, in this order.
func (c chatter) requireOnce(texts ...string) {
	c.t.Helper()
	shown := c.texts()
	last := -1
	for _, want := range texts {
		idx, n := -1, 0
		for i, s := range shown {
			if s == want {
				idx, n = i, n+1
			}
		}
		switch {
		case n != 1:
			c.t.Errorf("%s: %q shown %d times; messages: %q", c.name, want, n, shown)
		case idx < last:
			c.t.Errorf("%s: %q shown out of order; messages: %q", c.name, want, shown)
		}
		last = idx
	}
}

// TestBrowserChat runs the chat page in headless Chromium: two people in one
// room (one signed in through the page, one anonymous) exchange messages and
// see each other present; one leaves and comes back, and a reload, lose no
// message sent meanwhile; and when the server goes away and comes back, both
// pages reconnect by themselves and resume without a gap or a duplicate,
// including a message typed while disconnected.
func TestBrowserChat(t *testing.T) {
	b := startBrowser(t)
	rs := redistest.Start(t)
	env := map[string]string{"REDIS_URL": rs.URL(), "ADMIN_TOKEN": adminToken}
	demo := withDemoUsers(t)
	s := startServer(t, env, demo...)
	s.waitStatus("/readyz", 200, readyWithin)
	const room = "browser-room"

	alice := chatter{b.newTab("alice", true)}
	bob := chatter{b.newTab("bob", true)}
	alice.open(s.URL, room)
	bob.open(s.URL, room)

	// Alice signs in on the page: the HttpOnly cookie then authenticates
	// her socket, so her messages carry her user name.
	alice.do(20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#username"), "user1"),
		chromedp.SendKeys(chromedp.CSS("#password"), "password123"),
		chromedp.Click(chromedp.CSS("#login button")),
	)
	alice.wait(`document.getElementById("me").textContent === "signed in as user1"`, 20*time.Second)
	alice.waitLive()
	bobName := eval[string](bob.tab, `document.getElementById("me").textContent.replace("you are ", "")`)
	if !strings.HasPrefix(bobName, "anon-") {
		t.Fatalf("anonymous bob is shown as %q", bobName)
	}

	alice.send("hello from alice")
	if who := bob.sees("hello from alice"); who != "user1" {
		t.Errorf("bob sees alice's message from %q, want user1", who)
	}
	bob.send("hi alice <b>not bold</b>")
	if who := alice.sees("hi alice <b>not bold</b>"); who != bobName {
		t.Errorf("alice sees bob's message from %q, want %q", who, bobName)
	}
	if n := eval[int](alice.tab, `document.querySelectorAll("#messages b").length`); n != 0 {
		t.Errorf("a message's markup was rendered as HTML (%d <b> elements)", n)
	}
	alice.sees("hello from alice") // her own message comes back from the room
	for _, c := range []chatter{alice, bob} {
		c.wait(`[...document.querySelectorAll("#presence li")].map(li => li.firstChild.textContent).join(",") === `+js(strings.Join(sortedPair("user1", bobName), ",")), 20*time.Second)
	}
	alice.screenshot("chat-alice")
	bob.screenshot("chat-bob")

	// Bob leaves the page; Alice writes; Bob comes back and has it all.
	bob.do(20*time.Second, chromedp.Navigate("about:blank"))
	for i := 1; i <= 3; i++ {
		alice.send(fmt.Sprintf("while bob was away %d", i))
	}
	alice.sees("while bob was away 3")
	bob.open(s.URL, room)
	bob.sees("while bob was away 3")
	bobName = eval[string](bob.tab, `document.getElementById("me").textContent.replace("you are ", "")`)
	alice.wait(`[...document.querySelectorAll("#presence li")].map(li => li.firstChild.textContent).join(",") === `+js(strings.Join(sortedPair("user1", bobName), ",")), 20*time.Second)
	bob.requireOnce("hello from alice", "hi alice <b>not bold</b>", "while bob was away 1", "while bob was away 2", "while bob was away 3")

	// A reload: messages sent while the page reloads are there afterwards.
	reloaded := make(chan struct{})
	go func() {
		defer close(reloaded)
		ctx, cancel := context.WithTimeout(bob.ctx, 30*time.Second)
		defer cancel()
		_ = chromedp.Do(ctx, chromedp.Reload())
	}()
	alice.send("during the reload")
	<-reloaded
	bob.waitLive()
	alice.send("after the reload")
	bob.sees("after the reload")
	bob.requireOnce("while bob was away 3", "during the reload", "after the reload")

	// The server goes away (sockets closed with 1001). While it is down a
	// second instance takes messages, and Alice types one that waits in her
	// page; then the server comes back on the same address.
	addr := strings.TrimPrefix(s.URL, "http://")
	s.stop()
	for _, c := range []chatter{alice, bob} {
		c.wait(`document.body.dataset.chat === "reconnecting"`, 20*time.Second)
	}
	other := startServer(t, env, demo...)
	for i := 1; i <= 2; i++ {
		if r := other.do("POST", "/chat/message", fmt.Sprintf(`{"room":%q,"message":"during the outage %d"}`, room, i)); r.Status != 200 {
			t.Fatalf("POST /chat/message on the other instance = %d %s", r.Status, r.Body)
		}
	}
	alice.send("typed while disconnected")
	alice.screenshot("chat-reconnecting")
	s2 := startServerAt(t, addr, env, demo...)
	s2.waitStatus("/readyz", 200, readyWithin)
	for _, c := range []chatter{alice, bob} {
		c.waitLive()
		c.sees("typed while disconnected")
		c.requireOnce("after the reload", "during the outage 1", "during the outage 2", "typed while disconnected")
	}
	alice.wait(`document.querySelectorAll("#presence li").length === 2`, 20*time.Second)
	alice.screenshot("chat-resumed")

	// The session token stays in the HttpOnly cookie: never in a URL the
	// page opened, never in the server's logs.
	token := sessionCookie(t, alice.tab)
	if token == "" {
		t.Fatal("alice's browser has no session cookie")
	}
	for _, logs := range []string{s.logs.String(), s2.logs.String()} {
		if strings.Contains(logs, token) {
			t.Error("the session token appears in the server's log")
		}
	}
	if js := eval[bool](alice.tab, `document.cookie.includes("redlane_session")`); js {
		t.Error("the session cookie is readable from JavaScript")
	}
	alice.checkNoProblems()
	bob.checkNoProblems()
}

func sortedPair(a, b string) []string {
	if b < a {
		return []string{b, a}
	}
	return []string{a, b}
}

// sessionCookie reads the tab's redlane_session cookie through the
// DevTools protocol (the page itself cannot: it is HttpOnly).
func sessionCookie(t *testing.T, tb *tab) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "redlane_session" {
			if !c.HTTPOnly {
				t.Error("the session cookie is not HttpOnly")
			}
			return c.Value
		}
	}
	return ""
}

// TestBrowserChatSSEFallback: behind a proxy that refuses WebSocket
// upgrades, the chat page falls back to Server-Sent Events (sending with
// POST); a page that reaches the server directly stays on WebSocket; the two
// talk to each other, and when the server restarts the SSE page resumes by
// itself, without a gap or a duplicate.
func TestBrowserChatSSEFallback(t *testing.T) {
	b := startBrowser(t)
	rs := redistest.Start(t)
	env := map[string]string{"REDIS_URL": rs.URL()}
	addr := freeAddr(t)
	s := startServerAt(t, addr, env)
	s.waitStatus("/readyz", 200, readyWithin)
	target, _ := url.Parse(s.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "this proxy does not pass WebSocket upgrades", http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { proxy.CloseClientConnections(); proxy.Close() }) // Close alone waits for open streams
	const room = "fallback-room"

	carol := chatter{b.newTab("carol", true)} // through the proxy: SSE
	dave := chatter{b.newTab("dave", true)}   // direct: WebSocket
	carol.open(proxy.URL, room)
	dave.open(s.URL, room)
	if tr := eval[string](carol.tab, `document.body.dataset.transport`); tr != "sse" {
		t.Fatalf("behind a proxy without upgrades the page uses %q, want sse", tr)
	}
	if tr := eval[string](dave.tab, `document.body.dataset.transport`); tr != "ws" {
		t.Fatalf("reaching the server directly the page uses %q, want ws", tr)
	}
	dave.send("over websocket")
	carol.sees("over websocket")
	carol.send("over sse")
	dave.sees("over sse")
	carol.screenshot("chat-sse-fallback")

	// The server restarts; while it is down another instance takes messages.
	s.stop()
	carol.wait(`document.body.dataset.chat === "reconnecting"`, 20*time.Second)
	other := startServer(t, env)
	other.waitStatus("/readyz", 200, readyWithin)
	for i := 1; i <= 3; i++ {
		if r := other.do("POST", "/chat/message", fmt.Sprintf(`{"room":%q,"message":"during the restart %d"}`, room, i)); r.Status != 200 {
			t.Fatalf("POST /chat/message on the other instance = %d %s", r.Status, r.Body)
		}
	}
	s2 := startServerAt(t, addr, env)
	s2.waitStatus("/readyz", 200, readyWithin)
	carol.waitLive()
	carol.sees("during the restart 3")
	if tr := eval[string](carol.tab, `document.body.dataset.transport`); tr != "sse" {
		t.Fatalf("after the restart the page uses %q, want sse", tr)
	}
	carol.send("after the restart")
	carol.sees("after the restart")
	carol.requireOnce("over websocket", "over sse", "during the restart 1", "during the restart 2", "during the restart 3", "after the restart")
	carol.checkNoProblems()
	dave.checkNoProblems()
}
