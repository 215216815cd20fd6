package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/redlane/redlane/internal/dashboards"
	"github.com/redlane/redlane/internal/jaegertest"
	"github.com/redlane/redlane/internal/promtest"
	"github.com/redlane/redlane/internal/redistest"
)

// Traces are checked on a real Jaeger (internal/jaegertest): what the
// exporters send over OTLP, as Jaeger stored it, read back through its
// query API.

// tracedEnv is the environment of a traced instance named pod exporting to
// j over protocol (grpc or http/protobuf).
func tracedEnv(j *jaegertest.Server, redis map[string]string, pod, protocol string) map[string]string {
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
		"OTEL_RESOURCE_ATTRIBUTES":    "k8s.pod.name=" + pod + ",k8s.namespace.name=redlane-test",
	}
	env["OTEL_EXPORTER_OTLP_ENDPOINT"] = j.OTLPHTTP
	if protocol == "grpc" {
		env["OTEL_EXPORTER_OTLP_ENDPOINT"] = j.OTLPGRPC
	}
	for k, v := range redis {
		env[k] = v
	}
	return env
}

// traceWithin bounds each wait for spans to reach Jaeger: the SDK's batch
// exporter sends every 5s, Jaeger's batch processor every 100ms; a starved
// machine under -race adds more. The wait ends as soon as the spans are there.
const traceWithin = time.Minute

// spanIndex finds spans of a trace by name and process.
type spanIndex struct {
	tr jaegertest.Trace
}

func (x spanIndex) pod(s jaegertest.Span) string {
	p := x.tr.Processes[s.ProcessID]
	v, _ := jaegertest.Tag(p.Tags, "k8s.pod.name").(string)
	return v
}

// find returns the spans named name (a prefix match when name ends in
// "*") emitted by pod ("" for any).
func (x spanIndex) find(name, pod string) []jaegertest.Span {
	var out []jaegertest.Span
	for _, s := range x.tr.Spans {
		match := s.OperationName == name
		if p, ok := strings.CutSuffix(name, "*"); ok {
			match = strings.HasPrefix(s.OperationName, p)
		}
		if match && (pod == "" || x.pod(s) == pod) {
			out = append(out, s)
		}
	}
	return out
}

func (x spanIndex) String() string {
	var b strings.Builder
	for _, s := range x.tr.Spans {
		fmt.Fprintf(&b, "\n  %s %q pod=%s parent=%s tags=%v", s.SpanID, s.OperationName, x.pod(s), s.Parent(), s.Tags)
	}
	return b.String()
}

// TestTraceCrossesRedis publishes a chat message on instance A (over HTTP,
// with a caller's traceparent, then over a WebSocket) to a member on
// instance B and finds, in Jaeger, one trace holding A's request and
// publish spans and B's fan-out span, each instance exporting over a
// different OTLP protocol, on a standalone Redis and on a Cluster. The
// trace context never reaches the clients, the request log lines carry the
// trace id, and both latency histograms carry it as an exemplar.
func TestTraceCrossesRedis(t *testing.T) {
	for _, tc := range []struct {
		name       string
		redis      func(t *testing.T) map[string]string
		protoA     string
		protoB     string
		traceID    string
		parentSpan string
	}{
		{"standalone", func(t *testing.T) map[string]string {
			return map[string]string{"REDIS_URL": redistest.Start(t).URL()}
		}, "grpc", "http/protobuf", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"},
		{"cluster", func(t *testing.T) map[string]string {
			c := redistest.StartCluster(t, 3, 0)
			return map[string]string{"REDIS_ADDRS": strings.Join(c.Addrs(), ",")}
		}, "http/protobuf", "grpc", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := publishAcrossPods(t, tc.redis(t), tc.protoA, tc.protoB, tc.traceID, tc.parentSpan)
			j, a, b, room, sent, onA, onB, tr := c.j, c.a, c.b, c.room, c.sent, c.onA, c.onB, c.tr
			x := spanIndex{tr}
			hist := a.do("GET", "/chat/history?room="+room, "")
			if hist.Status != 200 || strings.Contains(string(hist.Body), tc.traceID) || strings.Contains(string(hist.Body), `"c"`) {
				t.Errorf("history: %d %s (must not show the trace context)", hist.Status, hist.Body)
			}
			ctx, cancel := context.WithTimeout(context.Background(), traceWithin)
			defer cancel()
			req := x.find("POST /chat/message", "pod-a")[0]
			if req.Parent() != tc.parentSpan {
				t.Errorf("request span's parent = %q, want the caller's %s%s", req.Parent(), tc.parentSpan, x)
			}
			pub := x.find("chat.publish "+room, "pod-a")
			if len(pub) != 1 || pub[0].Parent() != req.SpanID {
				t.Fatalf("want one chat.publish span under the request span %s:%s", req.SpanID, x)
			}
			if id := jaegertest.Tag(pub[0].Tags, "messaging.message.id"); id != sent["id"] {
				t.Errorf("publish span message id = %v, want %v", id, sent["id"])
			}
			if len(x.find("evalsha*", "pod-a")) == 0 {
				t.Errorf("no Redis span for the publish script on pod-a:%s", x)
			}
			for _, pod := range []string{"pod-a", "pod-b"} {
				fan := x.find("chat.fanout "+room, pod)[0]
				if fan.Parent() != pub[0].SpanID {
					t.Errorf("%s fan-out span's parent = %s, want the publish span %s%s", pod, fan.Parent(), pub[0].SpanID, x)
				}
				if d := jaegertest.Tag(fan.Tags, "chat.delivered"); d != float64(1) {
					t.Errorf("%s fan-out chat.delivered = %v, want 1", pod, d)
				}
				if d := jaegertest.Tag(fan.Tags, "chat.dropped_slow_consumer"); d != float64(0) {
					t.Errorf("%s fan-out chat.dropped_slow_consumer = %v, want 0", pod, d)
				}
				if ns := jaegertest.Tag(tr.Processes[fan.ProcessID].Tags, "k8s.namespace.name"); ns != "redlane-test" {
					t.Errorf("%s resource k8s.namespace.name = %v", pod, ns)
				}
			}

			// Logs and exemplars join the trace.
			if line := logLine(a.logs.String(), `"route":"/chat/message"`); !strings.Contains(line, `"trace_id":"`+tc.traceID+`"`) ||
				!strings.Contains(line, `"span_id":"`+req.SpanID+`"`) {
				t.Errorf("request log line lacks trace_id %s and span_id %s: %s", tc.traceID, req.SpanID, line)
			}
			if ex := exemplars(t, a, "redlane_http_request_duration_seconds_bucket{", `route="/chat/message"`); !slices.Contains(ex, tc.traceID) {
				t.Errorf("HTTP latency exemplars of /chat/message on A = %v, want %s", ex, tc.traceID)
			}
			if ex := exemplars(t, b, "redlane_realtime_delivery_latency_seconds_bucket{", ""); !slices.Contains(ex, tc.traceID) {
				t.Errorf("delivery latency exemplars on B = %v, want %s", ex, tc.traceID)
			}

			// 2. WebSocket publish on A: a trace of its own, delivered on B.
			onA.sendJSON(map[string]string{"type": "message", "text": "over the socket", "ref": "r1"})
			ack := onA.next("ack")
			checkClientFrame(t, onB.next("message"), map[string]any{"id": ack.str("id"), "text": "over the socket"})
			wsTrace, err := jaegertest.Wait(ctx, func(ctx context.Context) ([]jaegertest.Trace, error) {
				return j.Find(ctx, "redlane", "chat.fanout "+room)
			}, func(ts []jaegertest.Trace) bool { return wsPublishTrace(ts, ack.str("id")) != nil })
			if err != nil {
				t.Fatalf("no trace with the WebSocket publish %s and its fan-out on pod-b: %v (%d traces)", ack.str("id"), err, len(wsTrace))
			}
		})
	}
}

// crossPod is a chat message published on pod A and delivered on pod B,
// and the trace Jaeger holds for it.
type crossPod struct {
	j        *jaegertest.Server
	a, b     *server
	room     string
	sent     map[string]any
	onA, onB *wsClient
	tr       jaegertest.Trace
}

// publishAcrossPods starts Jaeger and two traced instances on one Redis
// (redis is their environment), A exporting over protoA and B over protoB,
// a member of the room on each, and POSTs a message to A with the caller's
// traceparent (traceID, parentSpan); it returns once Jaeger holds the
// request span on A and a fan-out span on each pod.
func publishAcrossPods(t *testing.T, redis map[string]string, protoA, protoB, traceID, parentSpan string) crossPod {
	t.Helper()
	c := crossPod{j: jaegertest.Start(t), room: "traced-" + strings.ReplaceAll(t.Name(), "/", "-")}
	c.a = startServer(t, tracedEnv(c.j, redis, "pod-a", protoA))
	c.b = startServer(t, tracedEnv(c.j, redis, "pod-b", protoB))
	c.a.waitStatus("/readyz", 200, readyWithin)
	c.b.waitStatus("/readyz", 200, readyWithin)
	c.onB = dialChat(t, c.b, "/ws/chat/"+c.room)
	c.onB.next("joined")
	c.onA = dialChat(t, c.a, "/ws/chat/"+c.room)
	c.onA.next("joined")

	c.sent = post(t, c.a, c.room, "hello across pods", "traceparent", "00-"+traceID+"-"+parentSpan+"-01")
	checkClientFrame(t, c.onB.next("message"), c.sent)
	c.onA.next("message")

	ctx, cancel := context.WithTimeout(context.Background(), traceWithin)
	defer cancel()
	tr, err := jaegertest.Wait(ctx, func(ctx context.Context) (jaegertest.Trace, error) { return c.j.Get(ctx, traceID) },
		func(tr jaegertest.Trace) bool {
			x := spanIndex{tr}
			return len(x.find("chat.fanout "+c.room, "pod-b")) == 1 && len(x.find("chat.fanout "+c.room, "pod-a")) == 1 &&
				len(x.find("POST /chat/message", "pod-a")) == 1
		})
	if err != nil {
		t.Fatalf("trace %s: %v; spans so far:%s\njaeger log:\n%s", traceID, err, spanIndex{tr}, c.j.Log())
	}
	c.tr = tr
	return c
}

// wsPublishTrace is the trace among ts in which pod-a published message id
// over a WebSocket and pod-b fanned it out, nil when there is none.
func wsPublishTrace(ts []jaegertest.Trace, id string) *jaegertest.Trace {
	for i := range ts {
		x := spanIndex{ts[i]}
		for _, p := range x.find("chat.publish *", "pod-a") {
			if jaegertest.Tag(p.Tags, "messaging.message.id") != id || jaegertest.Tag(p.Tags, "chat.via") != "ws" {
				continue
			}
			for _, f := range x.find("chat.fanout *", "pod-b") {
				if f.Parent() == p.SpanID {
					return &ts[i]
				}
			}
		}
	}
	return nil
}

// checkClientFrame fails unless f is the message want as clients see it:
// its id and text, and exactly the documented fields, no trace context.
func checkClientFrame(t *testing.T, f frame, want map[string]any) {
	t.Helper()
	if f.str("id") != want["id"] || (want["text"] != nil && f.str("text") != want["text"]) {
		t.Errorf("frame %v, want id %v text %v", f, want["id"], want["text"])
	}
	var keys []string
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if strings.Join(keys, ",") != "id,room,sender,text,timestamp,type" {
		t.Errorf("message frame fields = %v, want id,room,sender,text,timestamp,type", keys)
	}
}

// logLine is the last JSON log line containing s.
func logLine(logs, s string) string {
	lines := strings.Split(logs, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			return lines[i]
		}
	}
	return ""
}

// exemplars are the trace ids of the exemplars on the series whose line
// starts with prefix and contains label, read from /metrics in the
// OpenMetrics format (the only one that carries exemplars).
func exemplars(t *testing.T, s *server, prefix, label string) []string {
	t.Helper()
	r := s.do("GET", "/metrics", "", "Accept", "application/openmetrics-text; version=1.0.0")
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("/metrics answered %s to an OpenMetrics scraper", ct)
	}
	var ids []string
	for _, line := range strings.Split(string(r.Body), "\n") {
		if !strings.HasPrefix(line, prefix) || !strings.Contains(line, label) {
			continue
		}
		if _, ex, ok := strings.Cut(line, ` # {trace_id="`); ok {
			id, _, _ := strings.Cut(ex, `"`)
			ids = append(ids, id)
		}
	}
	return ids
}

// TestDashboardExemplars: every dashboard query that asks for exemplars
// gets them from a real Prometheus with exemplar storage on, scraping a
// traced Redlane through OpenMetrics; each exemplar's trace_id names a
// trace Jaeger holds, and the panel links it to the $tracing (Jaeger)
// datasource.
func TestDashboardExemplars(t *testing.T) {
	redistest.Require(t, "prometheus")
	j := jaegertest.Start(t)
	instance := freeAddr(t)
	prom := promtest.Start(t, promtest.Options{Job: "redlane", Targets: []string{instance}, Exemplars: true})
	s := startServerAt(t, instance, tracedEnv(j, map[string]string{"REDIS_URL": redistest.Start(t).URL()}, "pod-a", "grpc"))
	s.waitStatus("/readyz", 200, readyWithin)
	member := dialChat(t, s, "/ws/chat/exemplars")
	member.next("joined")

	vars := map[string]string{"namespace": ".*", "job": "redlane", "instance": instance, "__rate_interval": "5m"}
	type check struct{ where, expr string }
	var checks []check
	for _, d := range readDashboards(t, filepath.Join("..", ".."), "*.json") {
		if !slices.ContainsFunc(d.Templating.List, func(v dashboards.Variable) bool { return v.Name == "tracing" && v.Type == "datasource" }) {
			t.Errorf("dashboard %s has no $tracing datasource variable", d.Title)
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if !tg.Exemplar {
					continue
				}
				if !slices.ContainsFunc(p.FieldConfig.Defaults.Links, func(l dashboards.Link) bool {
					return strings.Contains(l.URL, "${tracing}") && strings.Contains(l.URL, "${__data.fields.trace_id}")
				}) {
					t.Errorf("%s / %s asks for exemplars but has no data link to the trace in $tracing", d.Title, p.Title)
				}
				expr, err := dashboards.Expand(tg.Expr, vars)
				if err != nil {
					t.Fatal(err)
				}
				checks = append(checks, check{d.Title + " / " + p.Title + " / " + tg.RefID, expr})
			}
		}
	}
	if len(checks) < 4 {
		t.Fatalf("%d queries ask for exemplars; want the HTTP latency panels and the delivery latency", len(checks))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now().Add(-time.Minute)
	for _, c := range checks {
		ids, err := jaegertest.Wait(ctx, func(ctx context.Context) ([]string, error) {
			// Traffic between polls: a sampled request per round (a caller's
			// traceparent with the sampled flag), delivered to the member.
			post(t, s, "exemplars", "traced", "traceparent", "00-"+randomHex(16)+"-"+randomHex(8)+"-01")
			member.next("message")
			res, err := prom.API.QueryExemplars(ctx, c.expr, start, time.Now().Add(time.Minute))
			var ids []string
			for _, r := range res {
				for _, e := range r.Exemplars {
					ids = append(ids, string(e.Labels["trace_id"]))
				}
			}
			return ids, err
		}, func(ids []string) bool { return len(ids) > 0 })
		if err != nil {
			t.Errorf("%s: no exemplars: %v\n  %s\nprometheus log:\n%s", c.where, err, c.expr, prom.Log())
			continue
		}
		if _, err := jaegertest.Wait(ctx, func(ctx context.Context) (jaegertest.Trace, error) { return j.Get(ctx, ids[len(ids)-1]) },
			func(tr jaegertest.Trace) bool { return len(tr.Spans) > 0 }); err != nil {
			t.Errorf("%s: exemplar trace %s is not in Jaeger: %v", c.where, ids[len(ids)-1], err)
		}
	}
}

// randomHex is n random bytes in hex (trace and span ids).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestQueueTraceAcrossInstances: a task enqueued on pod A (continuing a
// caller's trace), claimed and acked by a worker on pod B, is one trace in
// Jaeger: B's claim and ack spans are children of A's enqueue span, linked
// to B's requests; the task's API view shows no trace context.
func TestQueueTraceAcrossInstances(t *testing.T) {
	j := jaegertest.Start(t)
	redis := map[string]string{"REDIS_URL": redistest.Start(t).URL()}
	a := startServer(t, tracedEnv(j, redis, "pod-a", "grpc"))
	b := startServer(t, tracedEnv(j, redis, "pod-b", "http/protobuf"))
	const traceID = "6e0c63257de34c92bf9efcd03927272e"
	r := a.do("POST", "/queues/traced/tasks", `{"payload":{"n":1}}`, "traceparent", "00-"+traceID+"-d75597dee50b0cac-01")
	if r.Status != 201 {
		t.Fatalf("enqueue = %d %s", r.Status, r.Body)
	}
	id := r.JSON(t)["id"].(string)
	if v := a.do("GET", "/queues/traced/tasks/"+id, ""); strings.Contains(string(v.Body), traceID) {
		t.Errorf("the task view shows the trace context: %s", v.Body)
	}
	// A worker claims on B, heartbeats and fails the task on A, claims it
	// again on B and acks it there: every step is in the enqueue's trace.
	claim := func() string {
		t.Helper()
		c := decodeInto[claimed](t, b.do("POST", "/queues/traced/claim", `{"worker":"w1"}`))
		if len(c.Tasks) != 1 || c.Tasks[0].ID != id {
			t.Fatalf("claim = %+v", c)
		}
		return c.Tasks[0].Receipt
	}
	receipt := claim()
	if r := a.do("POST", "/queues/traced/tasks/"+id+"/extend", `{"receipt":"`+receipt+`","visibilityTimeout":"45s"}`); r.Status != 200 {
		t.Fatalf("extend = %d %s", r.Status, r.Body)
	}
	if r := a.do("POST", "/queues/traced/tasks/"+id+"/nack", `{"receipt":"`+receipt+`","error":"try again","delay":"0s"}`); r.Status != 200 {
		t.Fatalf("nack = %d %s", r.Status, r.Body)
	}
	if r := b.do("POST", "/queues/traced/tasks/"+id+"/ack", `{"receipt":"`+claim()+`"}`); r.Status != 204 {
		t.Fatalf("ack = %d %s", r.Status, r.Body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), traceWithin)
	defer cancel()
	tr, err := jaegertest.Wait(ctx, func(ctx context.Context) (jaegertest.Trace, error) { return j.Get(ctx, traceID) },
		func(tr jaegertest.Trace) bool {
			x := spanIndex{tr}
			return len(x.find("queue.claim traced", "pod-b")) == 2 && len(x.find("queue.ack traced", "pod-b")) == 1 &&
				len(x.find("queue.extend traced", "pod-a")) == 1 && len(x.find("queue.nack traced", "pod-a")) == 1
		})
	x := spanIndex{tr}
	if err != nil {
		t.Fatalf("trace %s: %v; spans so far:%s", traceID, err, x)
	}
	enq := x.find("queue.enqueue traced", "pod-a")
	if len(enq) != 1 || jaegertest.Tag(enq[0].Tags, "messaging.message.id") != id {
		t.Fatalf("want one queue.enqueue span for task %s on pod-a:%s", id, x)
	}
	if n := x.find("queue.nack traced", "pod-a")[0]; jaegertest.Tag(n.Tags, "queue.dead") != false {
		t.Errorf("nack span queue.dead = %v, want false (retrying)", jaegertest.Tag(n.Tags, "queue.dead"))
	}
	if e := x.find("queue.extend traced", "pod-a")[0]; jaegertest.Tag(e.Tags, "queue.visibility_ms") != float64(45000) {
		t.Errorf("extend span queue.visibility_ms = %v, want 45000", jaegertest.Tag(e.Tags, "queue.visibility_ms"))
	}
	for _, s := range slices.Concat(x.find("queue.claim traced", "pod-b"), x.find("queue.ack traced", "pod-b"),
		x.find("queue.extend traced", "pod-a"), x.find("queue.nack traced", "pod-a")) {
		op := s.OperationName
		if s.Parent() != enq[0].SpanID {
			t.Errorf("%s's parent = %s, want the enqueue span %s%s", op, s.Parent(), enq[0].SpanID, x)
		}
		if !slices.ContainsFunc(s.References, func(r jaegertest.Reference) bool { return r.RefType == "FOLLOWS_FROM" && r.TraceID != traceID }) {
			t.Errorf("%s has no link to the worker's request (another trace): %v", op, s.References)
		}
	}
}

// TestCacheLeaseWaitLinksHolder: a cache miss that waits for another
// caller's fill lease records a cache.lease_wait span linked to the lease
// holder's span, named in the lease. The holder is played by the test (a
// lease value as a traced pod writes it, expiring unfilled), so the wait
// and its end are deterministic.
func TestCacheLeaseWaitLinksHolder(t *testing.T) {
	j := jaegertest.Start(t)
	rs := redistest.Start(t)
	b := startServer(t, tracedEnv(j, map[string]string{"REDIS_URL": rs.URL()}, "pod-b", "grpc"), withDemoUsers(t)...)
	b.waitStatus("/readyz", 200, readyWithin)
	const holderTrace, holderSpan = "8a3c60f7d188f8fa79d48a391a778fa6", "53995c3f42cd8ad8"
	if err := rs.Client().Set(context.Background(), "redlane:cache:{user:7}:lease",
		"0123456789abcdef 00-"+holderTrace+"-"+holderSpan+"-01", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	const waiterTrace = "3f1b2c4d5e6f708192a3b4c5d6e7f809"
	if r := b.do("GET", "/users/7", "", "traceparent", "00-"+waiterTrace+"-1a2b3c4d5e6f7081-01"); r.Status != 200 {
		t.Fatalf("GET /users/7 = %d %s", r.Status, r.Body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), traceWithin)
	defer cancel()
	tr, err := jaegertest.Wait(ctx, func(ctx context.Context) (jaegertest.Trace, error) { return j.Get(ctx, waiterTrace) },
		func(tr jaegertest.Trace) bool { return len(spanIndex{tr}.find("cache.lease_wait", "pod-b")) == 1 })
	if err != nil {
		t.Fatalf("no cache.lease_wait span in trace %s: %v%s", waiterTrace, err, spanIndex{tr})
	}
	w := spanIndex{tr}.find("cache.lease_wait", "pod-b")[0]
	if !slices.ContainsFunc(w.References, func(r jaegertest.Reference) bool {
		return r.RefType == "FOLLOWS_FROM" && r.TraceID == holderTrace && r.SpanID == holderSpan
	}) {
		t.Errorf("cache.lease_wait references %v, want a link to the holder %s/%s", w.References, holderTrace, holderSpan)
	}
	if v := jaegertest.Tag(w.Tags, "cache.filled_by_holder"); v != false {
		t.Errorf("cache.filled_by_holder = %v, want false (the lease expired unfilled)", v)
	}
}

// TestTraceSlowConsumerDrop fills a member's queue (a client that reads
// nothing, with a tiny receive buffer) until the server closes it with
// 4008, and finds in Jaeger the chat.fanout span of the message that did
// it, with chat.dropped_slow_consumer 1 — beside fan-outs that dropped
// nobody, so the attribute counts and is not a constant.
func TestTraceSlowConsumerDrop(t *testing.T) {
	j := jaegertest.Start(t)
	env := tracedEnv(j, map[string]string{"REDIS_URL": redistest.Start(t).URL()}, "pod-a", "grpc")
	s := startServer(t, env, chatConfig(t, "sendQueueSize: 32, maxMessageBytes: 8192, maxFrameBytes: 16384, "+noPublishLimits)...)
	s.waitStatus("/readyz", 200, readyWithin)
	small := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	d := &websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: small.DialContext}
	slow, _, err := d.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/ws/chat/firehose", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	pub := dialChat(t, s, "/ws/chat/firehose")
	pub.next("joined")
	text := strings.Repeat("x", 8000)
	sent := 0
	for ; sent < 30000 && s.metric("redlane_realtime_slow_consumer_disconnects_total") == 0; sent += 20 {
		for range 20 {
			pub.sendJSON(map[string]string{"type": "message", "text": text, "ref": "r"})
		}
		for range 20 {
			pub.next("ack")
		}
	}
	if n := s.metric("redlane_realtime_slow_consumer_disconnects_total"); n != 1 {
		t.Fatalf("%v slow consumers disconnected after %d messages, want 1", n, sent)
	}
	ctx, cancel := context.WithTimeout(context.Background(), traceWithin)
	defer cancel()
	find := func(dropped string) func(context.Context) ([]jaegertest.Trace, error) {
		return func(ctx context.Context) ([]jaegertest.Trace, error) {
			return j.FindTagged(ctx, "redlane", "chat.fanout firehose", map[string]string{"chat.dropped_slow_consumer": dropped})
		}
	}
	some := func(ts []jaegertest.Trace) bool { return len(ts) > 0 }
	dropping, err := jaegertest.Wait(ctx, find("1"), func(ts []jaegertest.Trace) bool { return len(ts) == 1 })
	if err != nil {
		t.Fatalf("want one trace whose fan-out dropped the slow consumer, have %d: %v", len(dropping), err)
	}
	x := spanIndex{dropping[0]}
	fan := x.find("chat.fanout firehose", "pod-a")
	if len(fan) != 1 || jaegertest.Tag(fan[0].Tags, "chat.members") != float64(2) {
		t.Errorf("dropping fan-out: want one span with chat.members 2:%s", x)
	} else if pubs := x.find("chat.publish firehose", "pod-a"); len(pubs) != 1 || fan[0].Parent() != pubs[0].SpanID {
		t.Errorf("dropping fan-out is not a child of its message's publish:%s", x)
	}
	if _, err := jaegertest.Wait(ctx, find("0"), some); err != nil {
		t.Errorf("no fan-out that dropped nobody: %v", err)
	}
}

// TestScheduledTaskTrace: a schedule's occurrence starts a trace of its own
// (queue.enqueue with the schedule's name), and a task triggered by hand is
// in the trace of the trigger request; either way the task's claim and ack
// on another instance are children of its enqueue span.
func TestScheduledTaskTrace(t *testing.T) {
	j := jaegertest.Start(t)
	redis := map[string]string{"REDIS_URL": redistest.Start(t).URL(), "ADMIN_TOKEN": adminToken}
	cfg := filepath.Join(t.TempDir(), "schedules.yaml")
	writeFile(t, cfg, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  queue:\n    schedules:\n"+
		"    - {name: tick, queue: ticks, schedule: '@every 1s'}\n    - {name: nightly, queue: reports, schedule: '0 3 * * *'}\n")
	a := startServer(t, tracedEnv(j, redis, "pod-a", "grpc"), "--config", cfg)
	b := startServer(t, tracedEnv(j, redis, "pod-b", "http/protobuf"), "--config", cfg)
	a.waitStatus("/readyz", 200, readyWithin)
	b.waitStatus("/readyz", 200, readyWithin)
	const triggerTrace = "1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f"
	if r := a.do("POST", "/schedules/nightly/trigger", "", "X-Admin-Token", adminToken, "traceparent", "00-"+triggerTrace+"-0a1b2c3d4e5f6a7b-01"); r.Status/100 != 2 {
		t.Fatalf("trigger = %d %s", r.Status, r.Body)
	}
	work := func(queue string) string {
		t.Helper()
		var c claimed
		waitFor(t, func() bool {
			c = decodeInto[claimed](t, b.do("POST", "/queues/"+queue+"/claim", `{"worker":"w1"}`))
			return len(c.Tasks) > 0
		})
		if r := b.do("POST", "/queues/"+queue+"/tasks/"+c.Tasks[0].ID+"/ack", `{"receipt":"`+c.Tasks[0].Receipt+`"}`); r.Status != 204 {
			t.Fatalf("ack = %d %s", r.Status, r.Body)
		}
		return c.Tasks[0].ID
	}
	triggered, ticked := work("reports"), work("ticks")
	ctx, cancel := context.WithTimeout(context.Background(), traceWithin)
	defer cancel()
	oneTrace := func(x spanIndex, queue, id, schedule string) {
		t.Helper()
		var enq *jaegertest.Span
		for _, s := range x.find("queue.enqueue "+queue, "") {
			if jaegertest.Tag(s.Tags, "messaging.message.id") == id {
				enq = &s
			}
		}
		if enq == nil || jaegertest.Tag(enq.Tags, "queue.schedule") != schedule {
			t.Fatalf("no queue.enqueue span of task %s with queue.schedule %s:%s", id, schedule, x)
		}
		for _, op := range []string{"queue.claim ", "queue.ack "} {
			if s := x.find(op+queue, "pod-b"); len(s) != 1 || s[0].Parent() != enq.SpanID {
				t.Errorf("%s%s on pod-b is not one child of the enqueue span %s:%s", op, queue, enq.SpanID, x)
			}
		}
	}
	tr, err := jaegertest.Wait(ctx, func(ctx context.Context) (jaegertest.Trace, error) { return j.Get(ctx, triggerTrace) },
		func(tr jaegertest.Trace) bool { return len(spanIndex{tr}.find("queue.ack reports", "pod-b")) == 1 })
	if err != nil {
		t.Fatalf("trace %s of the trigger: %v%s", triggerTrace, err, spanIndex{tr})
	}
	oneTrace(spanIndex{tr}, "reports", triggered, "nightly")
	ts, err := jaegertest.Wait(ctx, func(ctx context.Context) ([]jaegertest.Trace, error) {
		return j.FindTagged(ctx, "redlane", "queue.enqueue ticks", map[string]string{"messaging.message.id": ticked})
	}, func(ts []jaegertest.Trace) bool {
		return len(ts) == 1 && len(spanIndex{ts[0]}.find("queue.ack ticks", "pod-b")) == 1
	})
	if err != nil {
		t.Fatalf("no trace of the scheduled task %s with its ack: %v", ticked, err)
	}
	x := spanIndex{ts[0]}
	oneTrace(x, "ticks", ticked, "tick")
	if s := x.find("queue.enqueue ticks", ""); len(s) != 1 || s[0].Parent() != "" || jaegertest.Tag(s[0].Tags, "queue.schedule.outcome") != "enqueued" {
		t.Errorf("the occurrence's enqueue span is not a root with outcome enqueued:%s", x)
	}
}
