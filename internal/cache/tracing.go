package cache

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/redlane/redlane/internal/telemetry"
)

// A fill's lease carries its holder's trace context: with tracing on, the
// lease value is "<token> <traceparent>" (the whole string is the token the
// store and release scripts compare), and a caller on any pod that waits
// for that lease records a cache.lease_wait span linked to the holder's
// span, so the wait points at the fill it waited for. With tracing off the
// lease is the bare token, as before.

// UseTracing turns the lease-wait spans on; call before serving.
func (c *Cache) UseTracing(t *telemetry.Tracing) {
	c.tracer = t.Tracer("github.com/redlane/redlane/internal/cache")
}

// leaseToken is the lease value of a new fill: a random token, followed by
// the traceparent of ctx's span when tracing is on.
func (c *Cache) leaseToken(ctx context.Context) string {
	tok := token()
	if tp := telemetry.CarriedTraceparent(ctx, c.tracer); tp != "" {
		tok += " " + tp
	}
	return tok
}

// startLeaseWait starts the cache.lease_wait span (nil when tracing is off).
func (c *Cache) startLeaseWait(ctx context.Context, logical string) (context.Context, trace.Span) {
	return telemetry.StartSpan(ctx, c.tracer, "cache.lease_wait", trace.WithAttributes(attribute.String("cache.key", logical)))
}

// linkLeaseHolder links span to the span of the lease holder named in the
// lease value v (once per span: the first value with a traceparent).
func linkLeaseHolder(span trace.Span, linked *bool, v any) {
	if span == nil || *linked {
		return
	}
	s, _ := v.(string)
	_, tp, _ := strings.Cut(s, " ") // "" for a bare token: no holder span
	holder, ok := telemetry.RemoteParent(tp)
	if !ok {
		return
	}
	span.AddLink(trace.LinkFromContext(holder, attribute.String("cache.link", "lease holder")))
	*linked = true
}

// endLeaseWait ends the span with whether the entry appeared.
func endLeaseWait(span trace.Span, got bool) {
	telemetry.EndSpan(span, attribute.Bool("cache.filled_by_holder", got))
}
