package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/redlane/redlane/internal/redistest"
)

// TestBrowserAdminConsole opens /admin in headless Chromium against a real
// server with an admin token: a wrong token is refused and shows nothing;
// with the admin token the queues table is live (a task enqueued meanwhile
// shows up without a reload), a dead letter retried leaves the list, a
// paused queue shows paused (and claims get nothing), a schedule is
// triggered, and a user's sessions ended from the console make that
// user's next request fail. Screenshots go to build/screenshots.
func TestBrowserAdminConsole(t *testing.T) {
	b := startBrowser(t)
	rs := redistest.Start(t)
	cfg := filepath.Join(t.TempDir(), "console.yaml")
	writeFile(t, cfg, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n"+demoUsersSpec+
		"  queue:\n    completedRetention: 1h\n    schedules:\n    - {name: nightly-report, queue: reports, schedule: '0 3 * * *', timeZone: Europe/Paris}\n")
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL(), "ADMIN_TOKEN": adminToken}, "--config", cfg)
	s.waitStatus("/readyz", 200, readyWithin)

	// A dead letter in "emails", a completed task in "thumbs".
	expect(t, "enqueue", s.do("POST", "/queues/emails/tasks", `{"payload":{"to":"a@example.com"},"maxAttempts":1}`), 201)
	c := decodeInto[claimed](t, s.do("POST", "/queues/emails/claim", `{}`))
	deadID := c.Tasks[0].ID
	expect(t, "nack", s.do("POST", "/queues/emails/tasks/"+deadID+"/nack", `{"receipt":"`+c.Tasks[0].Receipt+`","error":"smtp 421"}`), 200)
	expect(t, "enqueue", s.do("POST", "/queues/thumbs/tasks", `{"payload":{"image":42}}`), 201)
	c = decodeInto[claimed](t, s.do("POST", "/queues/thumbs/claim", `{}`))
	expect(t, "ack", s.do("POST", "/queues/thumbs/tasks/"+c.Tasks[0].ID+"/ack", `{"receipt":"`+c.Tasks[0].Receipt+`","result":{"url":"/t/42.png"}}`), 204)
	userToken, r := login(t, s, "user7", "password123")
	if userToken == "" {
		t.Fatalf("login = %d %s", r.Status, r.Body)
	}

	tb := b.newTab("admin", true)
	tb.do(30*time.Second, chromedp.Navigate(s.URL+"/admin"))
	// Not signed in: the stream is refused and the page says why.
	tb.wait(`!document.querySelector("#error").hidden && document.querySelector("#error").innerText.includes("admin token")`, 10*time.Second)
	tb.do(10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#token"), "not-the-admin-token-but-long-enough-0000"),
		chromedp.Click(chromedp.CSS("#login button")))
	tb.wait(`document.querySelector("#error").innerText.includes("not the admin token")`, 10*time.Second)
	if n := eval[int](tb, `document.querySelectorAll("#queue-table tbody tr").length`); n != 0 {
		t.Fatalf("a wrong token sees %d queues", n)
	}
	tb.screenshot("admin-refused")

	tb.do(10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#token"), adminToken),
		chromedp.Click(chromedp.CSS("#login button")))
	tb.wait(`document.querySelector("#live").innerText === "live" && document.querySelector("#queue-table tbody tr[data-queue=emails]")`, 15*time.Second)

	// Live: a task enqueued now shows up without a reload.
	expect(t, "enqueue", s.do("POST", "/queues/reports/tasks", `{"payload":{"report":"weekly"}}`), 201)
	tb.wait(`document.querySelector("#queue-table tbody tr[data-queue=reports]")`, 10*time.Second)

	// Retry the dead letter: it leaves the list and is ready again.
	tb.do(10*time.Second, chromedp.Click(chromedp.CSS(`#queue-table tr[data-queue=emails] td button`)))
	tb.wait(`document.querySelector("#dead-table tbody tr[data-task='`+deadID+`']")`, 10*time.Second)
	tb.screenshot("admin-queues")
	tb.do(10*time.Second, chromedp.Click(chromedp.CSS(`#dead-table tr[data-task="`+deadID+`"] button`)))
	tb.wait(`!document.querySelector("#dead-table tbody tr[data-task='`+deadID+`']")`, 10*time.Second)
	if body := string(s.do("GET", "/queues/emails", "").Body); !strings.Contains(body, `"ready":1`) || !strings.Contains(body, `"dead":0`) {
		t.Fatalf("after retry in the console: %s", body)
	}

	// Pause "emails": the table says paused, a claim gets nothing.
	tb.do(10*time.Second, chromedp.Click(chromedp.CSS(`#queue-table tr[data-queue=emails] td:last-child button`)))
	tb.wait(`document.querySelector("#queue-table tr[data-queue=emails] .pill").innerText === "paused"`, 10*time.Second)
	if body := string(s.do("POST", "/queues/emails/claim", `{}`).Body); !strings.Contains(body, `"tasks":[]`) {
		t.Fatalf("claim from a queue paused in the console: %s", body)
	}

	// Schedules: run one now.
	tb.do(10*time.Second, chromedp.Click(chromedp.CSS(`.tab[data-tab=schedules]`)))
	tb.wait(`document.querySelector("#schedule-table tr[data-schedule=nightly-report]")`, 10*time.Second)
	tb.do(10*time.Second, chromedp.Click(chromedp.CSS(`#schedule-table tr[data-schedule=nightly-report] td:last-child button:last-child`)))
	waitFor(t, func() bool { return strings.Contains(string(s.do("GET", "/queues/reports", "").Body), `"triggered":1`) })
	tb.screenshot("admin-schedules")

	// Sessions: end user7's sessions; their next request fails.
	expect(t, "session", s.do("GET", "/auth/session", "", "Authorization", "Bearer "+userToken), 200)
	tb.do(10*time.Second,
		chromedp.Click(chromedp.CSS(`.tab[data-tab=sessions]`)),
		chromedp.SendKeys(chromedp.CSS("#user-id"), "7"),
		chromedp.Click(chromedp.CSS("#user-form button")))
	tb.wait(`!document.querySelector("#revoke-all").hidden && document.querySelectorAll("#session-table tbody tr").length === 1`, 10*time.Second)
	tb.screenshot("admin-sessions")
	tb.do(10*time.Second, chromedp.Click(chromedp.CSS(`#revoke-all`)))
	tb.wait(`document.querySelector("#revoke-all").hidden && document.querySelectorAll("#session-table tbody tr").length === 0`, 10*time.Second)
	expect(t, "session after the console ended it", s.do("GET", "/auth/session", "", "Authorization", "Bearer "+userToken), 401)

	// Cache: warm the 50 most recent users, see the progress end and the
	// user namespace with its keys.
	tb.do(10*time.Second, chromedp.Click(chromedp.CSS(`.tab[data-tab=cache]`)))
	tb.wait(`document.querySelector("#warm-status").dataset.state`, 10*time.Second)
	tb.do(10*time.Second,
		chromedp.SetValue(chromedp.CSS("#warm-top"), "50"),
		chromedp.Click(chromedp.CSS("#warm-form button")))
	tb.wait(`document.querySelector("#warm-status").dataset.state === "done" && document.querySelector("#warm-status").innerText.includes("loaded 50")`, 20*time.Second)
	tb.wait(`document.querySelector("#cache-table tbody tr[data-namespace=user]")`, 10*time.Second)
	tb.screenshot("admin-cache")

	// Redis: the node, its role and memory.
	tb.do(10*time.Second, chromedp.Click(chromedp.CSS(`.tab[data-tab=redis]`)))
	tb.wait(`document.querySelector("#redis-table tbody tr[data-node='`+rs.Addr()+`']") && document.querySelector("#redis-table tbody").innerText.includes("master")`, 10*time.Second)
	tb.screenshot("admin-redis")

	// Rooms: a member and a message show up.
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/ws/chat/lobby", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	expect(t, "publish", s.do("POST", "/chat/message", `{"room":"lobby","message":"hello operators"}`), 200, 201, 202)
	tb.do(10*time.Second, chromedp.Click(chromedp.CSS(`.tab[data-tab=rooms]`)))
	tb.wait(`document.querySelector("#room-table tbody tr[data-room=lobby]")`, 10*time.Second)
	tb.do(10*time.Second, chromedp.Click(chromedp.CSS(`#room-table tr[data-room=lobby] button`)))
	tb.wait(`document.querySelector("#history-table tbody").innerText.includes("hello operators") && document.querySelectorAll("#presence-table tbody tr").length === 1`, 10*time.Second)
	// the open room follows new messages without a click
	expect(t, "publish", s.do("POST", "/chat/message", `{"room":"lobby","message":"second message"}`), 200, 201, 202)
	tb.wait(`document.querySelector("#history-table tbody").innerText.includes("second message")`, 10*time.Second)
	tb.screenshot("admin-rooms")

	// Rate limits: a request refused with 429 shows under its policy.
	for i := 0; i < 8; i++ {
		if s.do("GET", "/api/limited-endpoint", "").Status == 429 {
			break
		}
	}
	tb.do(10*time.Second, chromedp.Click(chromedp.CSS(`.tab[data-tab=ratelimits]`)))
	tb.wait(`document.querySelector("#policy-table tbody tr[data-policy=api]") && document.querySelector("#limited-table tbody").innerText.includes("/api/limited-endpoint")`, 10*time.Second)
	tb.screenshot("admin-ratelimits")

	// Config: redacted.
	tb.do(10*time.Second, chromedp.Click(chromedp.CSS(`.tab[data-tab=config]`)))
	tb.wait(`document.querySelector("#config-doc").innerText.includes("nightly-report")`, 10*time.Second)
	if doc := eval[string](tb, `document.querySelector("#config-doc").innerText`); strings.Contains(doc, adminToken) {
		t.Fatal("the console shows the admin token")
	}
	tb.checkNoProblems()
}
