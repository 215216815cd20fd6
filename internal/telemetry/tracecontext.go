package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracer is the named tracer of the provider; nil when tracing is off.
func (t *Tracing) Tracer(name string) trace.Tracer {
	if t == nil {
		return nil
	}
	return t.Provider.Tracer(name)
}

// StartSpan starts a span with tracer as a child of ctx's span. With
// tracing off (tracer nil) it returns ctx and a nil span, which EndSpan
// accepts, so callers need no check of their own.
func StartSpan(ctx context.Context, tracer trace.Tracer, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if tracer == nil {
		return ctx, nil
	}
	return tracer.Start(ctx, name, opts...)
}

// EndSpan sets attrs on span and ends it; a nil span (tracing off) is left
// alone.
func EndSpan(span trace.Span, attrs ...attribute.KeyValue) {
	if span == nil {
		return
	}
	span.SetAttributes(attrs...)
	span.End()
}

// traceparentLen is the length of a version-00 W3C traceparent
// ("00-<32 hex trace id>-<16 hex span id>-<2 hex flags>").
const traceparentLen = 55

// Traceparent is the W3C traceparent of the span in ctx, "" when ctx has
// none: the compact form (55 bytes, no tracestate, no baggage) in which
// trace context rides inside values stored in Redis (chat messages, queue
// tasks), so a consumer on another instance continues the trace.
func Traceparent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	c := traceparentCarrier{}
	propagation.TraceContext{}.Inject(ctx, &c)
	return c.v
}

// CarriedTraceparent is the traceparent to store with a value written
// under ctx's span: "" when tracing is off (tracer nil), even if ctx holds
// a remote parent taken from an incoming request, so that nothing is stored.
func CarriedTraceparent(ctx context.Context, tracer trace.Tracer) string {
	if tracer == nil {
		return ""
	}
	return Traceparent(ctx)
}

// RemoteContext returns ctx with the remote span context of traceparent
// tp, as read back from Redis. A value that is not exactly a valid
// traceparent leaves ctx as it is: what Redis holds is not trusted to be
// well formed (old entries have none, anyone with access can write).
func RemoteContext(ctx context.Context, tp string) context.Context {
	if len(tp) != traceparentLen {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, &traceparentCarrier{v: tp})
}

// RemoteParent is a context holding the remote span context of
// traceparent tp as read back from Redis, to start a child span in or link
// to; ok is false when tp is not a valid traceparent.
func RemoteParent(tp string) (ctx context.Context, ok bool) {
	ctx = RemoteContext(context.Background(), tp)
	return ctx, trace.SpanContextFromContext(ctx).IsValid()
}

// ValidTraceparent reports whether tp has the shape of a traceparent that
// RemoteContext accepts.
func ValidTraceparent(tp string) bool {
	_, ok := RemoteParent(tp)
	return ok
}

// traceparentCarrier carries the traceparent header alone.
type traceparentCarrier struct{ v string }

func (c traceparentCarrier) Get(key string) string {
	if key == "traceparent" {
		return c.v
	}
	return ""
}

func (c *traceparentCarrier) Set(key, value string) {
	if key == "traceparent" {
		c.v = value
	}
}

func (c traceparentCarrier) Keys() []string { return []string{"traceparent"} }
