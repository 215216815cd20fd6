package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/jaegertest"
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
			j := jaegertest.Start(t)
			redis := tc.redis(t)
			a := startServer(t, tracedEnv(j, redis, "pod-a", tc.protoA))
			b := startServer(t, tracedEnv(j, redis, "pod-b", tc.protoB))
			a.waitStatus("/readyz", 200, readyWithin)
			b.waitStatus("/readyz", 200, readyWithin)
			room := "traced-" + tc.name
			onB := dialChat(t, b, "/ws/chat/"+room)
			onB.next("joined")
			onA := dialChat(t, a, "/ws/chat/"+room)
			onA.next("joined")

			// 1. HTTP publish on A, continuing the caller's trace.
			tp := "00-" + tc.traceID + "-" + tc.parentSpan + "-01"
			sent := post(t, a, room, "hello across pods", "traceparent", tp)
			got := onB.next("message")
			checkClientFrame(t, got, sent)
			onA.next("message")
			hist := a.do("GET", "/chat/history?room="+room, "")
			if strings.Contains(string(hist.Body), tc.traceID) || strings.Contains(string(hist.Body), `"c"`) {
				t.Errorf("history shows the trace context: %s", hist.Body)
			}

			ctx, cancel := context.WithTimeout(context.Background(), traceWithin)
			defer cancel()
			tr, err := jaegertest.Wait(ctx, func(ctx context.Context) (jaegertest.Trace, error) { return j.Get(ctx, tc.traceID) },
				func(tr jaegertest.Trace) bool {
					x := spanIndex{tr}
					return len(x.find("chat.fanout "+room, "pod-b")) == 1 && len(x.find("chat.fanout "+room, "pod-a")) == 1 &&
						len(x.find("POST /chat/message", "pod-a")) == 1
				})
			x := spanIndex{tr}
			if err != nil {
				t.Fatalf("trace %s: %v; spans so far:%s\njaeger log:\n%s", tc.traceID, err, x, j.Log())
			}
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
