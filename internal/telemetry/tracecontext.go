package telemetry

import (
	"context"

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

// ValidTraceparent reports whether tp has the shape of a traceparent that
// RemoteContext accepts.
func ValidTraceparent(tp string) bool {
	return len(tp) == traceparentLen && trace.SpanContextFromContext(RemoteContext(context.Background(), tp)).IsValid()
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
