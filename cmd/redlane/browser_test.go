package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/redlane/redlane/internal/redistest"
)

// Browser tests drive Debian's headless Chromium with chromedp. Without
// chromium they skip, except under CI=true, where they fail (.ci/run installs
// it). Screenshots go to build/screenshots at the repository root (or
// $REDLANE_SCREENSHOTS), for a person to look at.

// browser is one headless Chromium for a test.
type browser struct {
	t   *testing.T
	ctx context.Context // the first tab's context; new tabs derive from it
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	redistest.Require(t, "chromium")
	path, _ := exec.LookPath("chromium")
	dir, err := os.MkdirTemp("", "redlane-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 860),
		// This machine has no network but loopback: keep Chromium from
		// reaching out at all (updates, QUIC probes, sync).
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		// Chromium's helpers may still write for a moment after it exits.
		for range 50 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	start, stop := context.WithTimeout(context.Background(), 60*time.Second)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }() // no timeout on the first Run: it would stop the browser
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("starting chromium: %v", err)
		}
	case <-start.Done():
		t.Fatal("chromium did not start within 60s")
	}
	return &browser{t: t, ctx: ctx}
}

// tab is one page. Tabs opened with isolated=true have their own browser
// context: their own cookies and storage, like another person's browser.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
}

// watchProblems records, in every document of a tab, what the page itself
// cannot be trusted to report: Content-Security-Policy violations and
// uncaught errors.
const watchProblems = `(() => {
  if (window.__problems) return;
  window.__problems = [];
  document.addEventListener("securitypolicyviolation", (e) =>
    window.__problems.push("CSP " + e.effectiveDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber));
  window.addEventListener("error", (e) => window.__problems.push("error: " + e.message));
  window.addEventListener("unhandledrejection", (e) => window.__problems.push("unhandled rejection: " + e.reason));
})();`

func (b *browser) newTab(name string, isolated bool) *tab {
	b.t.Helper()
	var opts []chromedp.ContextOption
	if isolated {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(b.ctx, opts...)
	b.t.Cleanup(cancel)
	tb := &tab{t: b.t, name: name, ctx: ctx}
	// The first Run creates the tab, which lives as long as that call's
	// context: it must be ctx itself, without a timeout.
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("opening tab %s: %v", name, err)
	}
	tb.do(30*time.Second, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchProblems})
		return err
	}))
	return tb
}

// do runs steps within timeout; on failure it saves a screenshot and the
// page's text, and fails the test.
func (tb *tab) do(timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.fail(err)
	}
}

func (tb *tab) fail(err error) {
	tb.t.Helper()
	tb.screenshot("failed-" + tb.name)
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ""`))
	tb.t.Fatalf("%s: %v\npage text:\n%s", tb.name, err, text)
}

// wait polls a JavaScript expression until it is truthy (a liveness bound,
// not a timing assertion).
func (tb *tab) wait(expr string, within time.Duration) {
	tb.t.Helper()
	tb.do(within+5*time.Second, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(within))(ctx, t)
		return err
	}))
}

// eval returns the value of a JavaScript expression.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.fail(err)
	}
	return v
}

// checkNoProblems fails on CSP violations and uncaught errors seen so far
// in the current document.
func (tb *tab) checkNoProblems() {
	tb.t.Helper()
	for _, p := range eval[[]string](tb, `window.__problems || ["the problem watcher is not installed"]`) {
		tb.t.Errorf("%s: %s", tb.name, p)
	}
}

var screenshotsOnce sync.Once

// screenshot saves the tab's viewport as <dir>/<name>.png.
func (tb *tab) screenshot(name string) string {
	tb.t.Helper()
	dir := os.Getenv("REDLANE_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "build", "screenshots")
	}
	dir, _ = filepath.Abs(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Errorf("screenshot dir: %v", err)
		return ""
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	file := filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	screenshotsOnce.Do(func() { tb.t.Logf("screenshots are in %s", dir) })
	tb.t.Logf("screenshot: %s", file)
	return file
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\u2028", `\u2028`, "\u2029", `\u2029`, "<", `\x3c`)
	return `"` + r.Replace(s) + `"`
}
