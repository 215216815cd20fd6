package web

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
)

type ctxKey int

const requestStateKey ctxKey = iota

// requestState is what the outermost middleware records once per request
// (one context value, one Request copy): the ID, the logger to derive the
// request's logger from (lazily, so requests that log nothing pay nothing),
// and the route template the router matched.
type requestState struct {
	id     string
	base   *slog.Logger
	logger atomic.Pointer[slog.Logger]
	route  atomic.Pointer[string]
	vars   map[string]string // path variables of the matched route, set before its handler runs
}

// WithRequest starts the per-request state: its ID, and base, from which
// Logger derives a logger carrying request_id on first use.
func WithRequest(ctx context.Context, id string, base *slog.Logger) context.Context {
	return context.WithValue(ctx, requestStateKey, &requestState{id: id, base: base})
}

func stateOf(ctx context.Context) *requestState {
	s, _ := ctx.Value(requestStateKey).(*requestState)
	return s
}

// SetRouteTemplate records the matched route template (e.g. /users/{id})
// for logs and metrics. The caller keeps tpl for the server's lifetime (the
// router's per-route wrapper), so recording it allocates nothing; it needs
// WithRequest earlier in the chain.
func SetRouteTemplate(ctx context.Context, tpl *string) {
	if s := stateOf(ctx); s != nil {
		s.route.Store(tpl)
	}
}

// SetVars records the matched route's path variables for Var; it reports
// false when ctx has no request state (WithRequest was not called).
func SetVars(ctx context.Context, vars map[string]string) bool {
	if s := stateOf(ctx); s != nil {
		s.vars = vars
		return true
	}
	return false
}

// Route returns the template SetRouteTemplate recorded, or "".
func Route(ctx context.Context) string {
	if s := stateOf(ctx); s != nil {
		if p := s.route.Load(); p != nil {
			return *p
		}
	}
	return ""
}

// RequestID returns the request ID set by the middleware, or "".
func RequestID(ctx context.Context) string {
	if s := stateOf(ctx); s != nil {
		return s.id
	}
	return ""
}

// Logger returns the request-scoped logger (with the request ID, and the
// trace_id and span_id of the request's span when it is sampled), or the
// default logger. The span is the one in ctx on first use: the server span
// for every line the middleware and handlers write.
func Logger(ctx context.Context) *slog.Logger {
	if s := stateOf(ctx); s != nil && s.base != nil {
		if l := s.logger.Load(); l != nil {
			return l
		}
		l := s.base.With("request_id", s.id)
		if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
			l = l.With("trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
		}
		s.logger.Store(l)
		return l
	}
	return slog.Default()
}
