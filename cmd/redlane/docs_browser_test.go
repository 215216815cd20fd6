package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/redlane/redlane/internal/redistest"
)

// opSelector is the element Swagger UI renders for an operation (deep
// linking ids: operations-<tag>-<operationId>).
func opSelector(tag, opID string) string { return "#operations-" + tag + "-" + opID }

// tryItOut expands an operation in Swagger UI, presses "Try it out" and
// "Execute", and waits for the live response; it returns its status code.
func tryItOut(tb *tab, op string) string {
	tb.t.Helper()
	tb.do(30*time.Second,
		chromedp.WaitVisible(chromedp.CSS(op+" .opblock-summary")),
		chromedp.Click(chromedp.CSS(op+" .opblock-summary-control")),
		chromedp.WaitVisible(chromedp.CSS(op+" .try-out__btn")),
		chromedp.Click(chromedp.CSS(op+" .try-out__btn")),
		chromedp.WaitVisible(chromedp.CSS(op+" .execute")),
		chromedp.Click(chromedp.CSS(op+" .execute")),
	)
	tb.wait(`document.querySelector(`+js(op+" .live-responses-table .response .response-col_status")+`)`, 20*time.Second)
	return eval[string](tb, `document.querySelector(`+js(op+" .live-responses-table .response .response-col_status")+`).innerText.trim()`)
}

// TestBrowserAPIExplorer opens /docs in headless Chromium: Swagger UI loads
// the document from /openapi.json without violating the page's CSP, "Try it
// out" on GET /health answers 200, and an authenticated call works after
// entering a session token in Authorize.
func TestBrowserAPIExplorer(t *testing.T) {
	b := startBrowser(t)
	rs := redistest.Start(t)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL(), "ADMIN_TOKEN": adminToken}, withDemoUsers(t)...)
	s.waitStatus("/readyz", 200, readyWithin)
	token, r := login(t, s, "user1", "password123")
	if token == "" {
		t.Fatalf("login = %d %s", r.Status, r.Body)
	}

	tb := b.newTab("docs", true)
	tb.do(30*time.Second, chromedp.Navigate(s.URL+"/docs"))
	tb.wait(`document.querySelector(".swagger-ui .info .title") && document.querySelector(".swagger-ui .info .title").innerText.includes("Redlane")`, 20*time.Second)
	tb.wait(`document.querySelector("`+opSelector("health", "health")+`")`, 10*time.Second)
	tb.screenshot("docs")

	// Try it out: GET /health.
	tryItOutAndSee(tb, opSelector("health", "health"), `"healthy"`, "docs-try-health")

	// An authorized call: GET /auth/session with a bearer token.
	{
		op := opSelector("sessions", "currentSession")
		// This tab has its own browser context: no session cookie, so a
		// success can only come from the token entered in Authorize.
		tb.do(20*time.Second,
			chromedp.Click(chromedp.CSS(".auth-wrapper .authorize")),
			chromedp.WaitVisible(chromedp.CSS(".modal-ux")),
		)
		// Mark the "session" scheme's input and button, whatever their order.
		tb.wait(`document.querySelectorAll(".modal-ux .auth-container input").length >= 2`, 10*time.Second)
		if !eval[bool](tb, `(() => {
			const c = [...document.querySelectorAll(".modal-ux .auth-container")].find(c => /^session\s*\(http, Bearer\)/.test((c.querySelector("h4") || {innerText: ""}).innerText.trim()));
			if (!c) return false;
			c.querySelector("input").id = "rl-session-token";
			c.querySelector("button.authorize").id = "rl-session-authorize";
			return true;
		})()`) {
			t.Fatal("no bearer scheme named session in the Authorize dialog")
		}
		tb.do(20*time.Second,
			chromedp.SendKeys(chromedp.CSS("#rl-session-token"), token),
			chromedp.Click(chromedp.CSS("#rl-session-authorize")),
			chromedp.WaitVisible(chromedp.CSS(".modal-ux .close-modal")),
			chromedp.Click(chromedp.CSS(".modal-ux .close-modal")),
		)
		tb.wait(`!document.querySelector(".modal-ux")`, 10*time.Second)
		tryItOutAndSee(tb, op, `"user1"`, "docs-authorized")
	}
	tb.checkNoProblems() // no CSP violation or script error on the way
}

// tryItOutAndSee runs "Try it out" on op, requires a 200 whose shown body
// contains want, and screenshots the response.
func tryItOutAndSee(tb *tab, op, want, shot string) {
	tb.t.Helper()
	if got := tryItOut(tb, op); got != "200" {
		tb.t.Fatalf("%s from the explorer = %s", op, got)
	}
	body := eval[string](tb, `document.querySelector(`+js(op+" .live-responses-table .response .response-col_description")+`).innerText`)
	if !strings.Contains(body, want) {
		tb.t.Errorf("%s: response body shown: %s", op, body)
	}
	eval[bool](tb, `(document.querySelector(`+js(op+" .live-responses-table")+`).scrollIntoView({block: "center"}), true)`)
	tb.screenshot(shot)
}
