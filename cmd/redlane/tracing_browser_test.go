package main

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/redlane/redlane/internal/jaegertest"
	"github.com/redlane/redlane/internal/redistest"
)

// TestBrowserCrossPodTrace draws the trace of a message published on pod A
// and delivered on pod B, as Jaeger's query API returns it, as a waterfall
// in headless Chromium (build/screenshots/tracing-cross-pod.png): one bar
// per span, indented under its parent, coloured by pod. With a built Jaeger
// UI (jaegertest.UIEnv) it also opens the trace in Jaeger's own UI and
// takes the picture docs/tracing.md shows (tracing-cross-pod-jaeger-ui.png;
// copy it to docs/images/tracing-cross-pod.png). The Jaeger built from the
// Go module has no UI assets and CI cannot build them (docs/tracing.md).
func TestBrowserCrossPodTrace(t *testing.T) {
	b := startBrowser(t)
	const traceID, parent = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
	c := publishAcrossPods(t, map[string]string{"REDIS_URL": redistest.Start(t).URL()}, "grpc", "http/protobuf", traceID, parent)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, waterfall(c.tr))
	}))
	defer page.Close()
	tb := b.newTab("trace", false)
	tb.do(30*time.Second, chromedp.Navigate(page.URL))
	tb.wait(`document.querySelectorAll(".span").length === `+fmt.Sprint(len(c.tr.Spans)), 10*time.Second)
	for _, want := range []string{"POST /chat/message", "chat.publish " + c.room, "chat.fanout " + c.room, "pod-a", "pod-b"} {
		if !eval[bool](tb, `document.body.innerText.includes(`+js(want)+`)`) {
			t.Errorf("the drawn trace does not show %q", want)
		}
	}
	tb.checkNoProblems()
	tb.screenshot("tracing-cross-pod")

	// With a built Jaeger UI (jaegertest.UIEnv; CI has none, see
	// docs/tracing.md), the same trace in Jaeger's own trace view, the
	// fan-out spans opened so each shows its pod: the picture of the docs.
	if !jaegertest.HasUI() {
		t.Logf("%s is not set: Jaeger's UI is not in this run, the trace is drawn from its API only", jaegertest.UIEnv)
		return
	}
	ui := b.newTab("jaeger-ui", false)
	ui.do(30*time.Second, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(c.j.QueryURL+"/trace/"+traceID))
	ui.wait(`document.querySelectorAll(".span-row").length === `+fmt.Sprint(len(c.tr.Spans)), 20*time.Second)
	// Open each fan-out's details (tags and process, where k8s.pod.name is).
	ui.wait(`(() => { const rows = [...document.querySelectorAll(".span-name")].filter(e => e.innerText.includes("chat.fanout"));
		rows.forEach(e => e.click()); return rows.length === 2; })()`, 10*time.Second)
	ui.wait(`document.body.innerText.includes("pod-a") && document.body.innerText.includes("pod-b")`, 10*time.Second)
	for _, want := range []string{"POST /chat/message", "chat.publish " + c.room, "chat.fanout " + c.room} {
		if !eval[bool](ui, `document.body.innerText.includes(`+js(want)+`)`) {
			t.Errorf("Jaeger's UI does not show %q", want)
		}
	}
	ui.screenshot("tracing-cross-pod-jaeger-ui")
}

// waterfall is an HTML page drawing tr: spans in tree order (children
// after their parent, by start time), each a bar placed on the trace's
// time axis, labelled with its name, pod and duration.
func waterfall(tr jaegertest.Trace) string {
	x := spanIndex{tr}
	children := map[string][]jaegertest.Span{}
	start, end := int64(1<<62), int64(0)
	ids := map[string]bool{}
	for _, s := range tr.Spans {
		ids[s.SpanID] = true
		start, end = min(start, s.StartTime), max(end, s.StartTime+s.Duration)
	}
	for _, s := range tr.Spans {
		p := s.Parent()
		if !ids[p] {
			p = "" // the caller's span is not in the trace: a root here
		}
		children[p] = append(children[p], s)
	}
	for _, cs := range children {
		slices.SortFunc(cs, func(a, b jaegertest.Span) int { return int(a.StartTime - b.StartTime) })
	}
	total := float64(max(end-start, 1))
	colours := map[string]string{"pod-a": "#2f6fdf", "pod-b": "#d9822b"}
	var rows strings.Builder
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, s := range children[parent] {
			pod := x.pod(s)
			left := float64(s.StartTime-start) / total * 100
			width := max(float64(s.Duration)/total*100, 0.3)
			fmt.Fprintf(&rows, `<div class="span"><div class="name" style="padding-left:%dpx">%s <span class="pod" style="color:%s">%s</span></div>`+
				`<div class="lane"><div class="bar" style="left:%.2f%%;width:%.2f%%;background:%s"></div>`+
				`<span class="dur" style="left:%.2f%%">%s</span></div></div>`,
				8+depth*16, html.EscapeString(s.OperationName), colours[pod], html.EscapeString(pod),
				left, width, colours[pod], min(left+width, 88), time.Duration(s.Duration)*time.Microsecond)
			walk(s.SpanID, depth+1)
		}
	}
	walk("", 0)
	return `<!doctype html><html><head><meta charset="utf-8"><title>trace ` + tr.TraceID + `</title><style>
body{font:13px "DejaVu Sans",sans-serif;margin:16px;color:#222}
h1{font-size:16px;margin:0 0 4px} p{margin:0 0 12px;color:#555}
.span{display:flex;border-bottom:1px solid #eee;height:24px;align-items:center}
.name{width:430px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.pod{font-size:11px;margin-left:6px}
.lane{position:relative;flex:1;height:100%}
.bar{position:absolute;top:6px;height:12px;border-radius:2px}
.dur{position:absolute;top:5px;margin-left:6px;font-size:11px;color:#555}
</style></head><body><h1>Trace ` + tr.TraceID + `</h1>
<p>` + fmt.Sprintf("%d spans, %s, from Jaeger's query API (/api/traces/%s): pod-a (blue) took the POST and published through Redis; pod-b (orange) fanned the message out to its WebSocket member.",
		len(tr.Spans), time.Duration(end-start)*time.Microsecond, tr.TraceID) + `</p>` + rows.String() + `</body></html>`
}
