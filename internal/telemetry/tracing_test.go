package telemetry

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TestSetupTracingFromEnv: tracing is off (nil, free) without an endpoint
// or when disabled, and the sampler and resource variables are checked,
// with an error naming the variable.
func TestSetupTracingFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		on      bool
		wantErr string
	}{
		{"no endpoint", map[string]string{}, false, ""},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"}, false, ""},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"}, false, ""},
		{"ratio", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}, true, ""},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_RESOURCE_ATTRIBUTES": "k8s.pod.name=p-0,deployment.environment.name=ci%20test"}, true, ""},
		{"bad ratio", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, false, "OTEL_TRACES_SAMPLER_ARG"},
		{"bad sampler", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_SAMPLER": "sometimes"}, false, "OTEL_TRACES_SAMPLER"},
		{"bad attributes", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_RESOURCE_ATTRIBUTES": "novalue"}, false, "OTEL_RESOURCE_ATTRIBUTES"},
		{"bad protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, false, "OTEL_EXPORTER_OTLP_PROTOCOL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := SetupTracing(context.Background(), func(k string) string { return tc.env[k] }, "test")
			defer tr.Shutdown(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tr != nil) != tc.on {
				t.Fatalf("tracing on = %v, want %v", tr != nil, tc.on)
			}
		})
	}
}

// TestTraceparentRoundTrip: the traceparent written for a sampled span
// reads back as its remote span context; malformed values read as none.
func TestTraceparentRoundTrip(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	tp := Traceparent(trace.ContextWithSpanContext(context.Background(), sc))
	if tp != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Fatalf("Traceparent = %q", tp)
	}
	back := trace.SpanContextFromContext(RemoteContext(context.Background(), tp))
	if !back.IsRemote() || back.TraceID() != tid || back.SpanID() != sid || !back.IsSampled() {
		t.Fatalf("RemoteContext(%s) = %+v", tp, back)
	}
	if Traceparent(context.Background()) != "" {
		t.Error("Traceparent without a span is not empty")
	}
	for _, bad := range []string{"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", tp + "x", strings.Replace(tp, "4b", "zz", 1)} {
		if ValidTraceparent(bad) {
			t.Errorf("ValidTraceparent(%q) = true", bad)
		}
		if _, ok := RemoteParent(bad); ok {
			t.Errorf("RemoteParent(%q) ok", bad)
		}
	}
	parent, ok := RemoteParent(tp)
	if got := trace.SpanContextFromContext(parent); !ok || !got.Equal(back) {
		t.Errorf("RemoteParent(%s) = %+v, %v", tp, got, ok)
	}
}

// TestTracingOff: with tracer nil no span starts and no traceparent is
// carried, even under a remote parent taken from a request.
func TestTracingOff(t *testing.T) {
	ctx, _ := RemoteParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	got, span := StartSpan(ctx, nil, "x")
	if got != ctx || span != nil {
		t.Errorf("StartSpan with no tracer = %v, %v", got, span)
	}
	EndSpan(span) // a nil span is fine
	if tp := CarriedTraceparent(ctx, nil); tp != "" {
		t.Errorf("CarriedTraceparent with no tracer = %q", tp)
	}
	if tp := CarriedTraceparent(ctx, noop.NewTracerProvider().Tracer("t")); tp == "" {
		t.Error("CarriedTraceparent with a tracer is empty")
	}
}
