package httpapi

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/redlane/redlane/internal/telemetry"
)

// traceRequests starts the server span of each request, continuing the
// caller's trace context (traceparent) when it sends one; recordRoute names
// it by route template and observe records the status. It is built only
// when tracing is on. It does no more per request than the sampler needs
// until a span records: otelhttp computes its attributes (and metrics) for
// every request, sampled or not, which costs a cached GET /users/{id} more
// than a tenth of its time at 10% sampling (docs/benchmarks.md).
func traceRequests(t *telemetry.Tracing) func(http.Handler) http.Handler {
	tracer := t.Tracer("github.com/redlane/redlane/internal/httpapi")
	prop := t.Propagator
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			if _, ok := r.Header["Traceparent"]; ok { // canonical key: no allocation
				ctx = prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
			}
			ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
			defer span.End()
			if span.IsRecording() {
				span.SetAttributes(
					attribute.String("http.request.method", r.Method),
					attribute.String("url.path", clipForLog(r.URL.Path)),
					attribute.String("network.protocol.version", r.Proto),
					attribute.String("user_agent.original", clipForLog(r.UserAgent())),
				)
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// endRequestSpan records the response status on the request's span, an
// error status for 5xx (as OpenTelemetry's HTTP conventions say: a 4xx is
// the client's error, not the server's).
func endRequestSpan(r *http.Request, status int) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}
