package httpapi

import (
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/gorilla/mux"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/web"
)

// routes registers handlers on the gorilla/mux router. Each route's
// handler is wrapped once, here, with the route-level middleware (sessions,
// rate limits) and a step that records the route template for logs,
// metrics and rate-limit policies: mux.Router.Use would build that chain
// anew on every request and look the template up again.
type routes struct {
	mux  *mux.Router
	wrap []func(http.Handler) http.Handler // outermost first
}

// Handle registers h for method on the path template tpl. A GET route also
// answers HEAD (net/http sends the headers and drops the body).
func (rs *routes) Handle(method, tpl string, h http.Handler) {
	for i := len(rs.wrap) - 1; i >= 0; i-- {
		h = rs.wrap[i](h)
	}
	methods := []string{method}
	if method == http.MethodGet {
		methods = append(methods, http.MethodHead)
	}
	rs.mux.Handle(tpl, recordRoute(tpl, h)).Methods(methods...)
}

// recordRoute records the route template so outer middleware (logs,
// metrics) can label by template. Spans are renamed only when they record
// (tracing on).
func recordRoute(tpl string, next http.Handler) http.Handler {
	p := &tpl
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.SetRouteTemplate(r.Context(), p)
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			span.SetName(r.Method + " " + tpl)
			span.SetAttributes(attribute.String("http.route", tpl))
		}
		next.ServeHTTP(w, r)
	})
}

// dispatcher serves a request through the router without the two request
// copies mux.Router.ServeHTTP makes to put the path variables and the route
// in the context: the variables go into the request state that requestID
// made (web.SetVars, read by web.Var). Anything but a clean path
// that matches a route (redirects of unclean paths, 404, 405), and any
// request without that state, is left to the router.
type dispatcher struct{ r *mux.Router }

func (d dispatcher) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if p := req.URL.Path; p == cleanPath(p) { // "" is not clean ("/")
		var m mux.RouteMatch
		if d.r.Match(req, &m) && m.MatchErr == nil && web.SetVars(req.Context(), m.Vars) {
			m.Handler.ServeHTTP(w, req)
			return
		}
	}
	d.r.ServeHTTP(w, req)
}

// cleanPath is the canonical form of an absolute path as mux (and
// net/http) define it: no "." or ".." elements or double slashes, and a
// trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// notFound and methodNotAllowed answer unmatched requests as problems.
func notFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.Respond(w, r, errdefs.NotFound("No route for %s %s.", r.Method, r.URL.Path))
	})
}

// methodNotAllowed answers 405 with the Allow header RFC 9110 requires:
// the methods of every route whose path matches. The routes' patterns are
// read once, on the first 405 (every route is registered by then).
func methodNotAllowed(r *mux.Router) http.Handler {
	type pathMethods struct {
		path    *regexp.Regexp
		methods []string
	}
	table := sync.OnceValue(func() []pathMethods {
		var t []pathMethods
		_ = r.Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
			re, err := rt.GetPathRegexp()
			ms, merr := rt.GetMethods()
			if err == nil && merr == nil {
				t = append(t, pathMethods{regexp.MustCompile(re), ms})
			}
			return nil
		})
		return t
	})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var allow []string
		for _, pm := range table() {
			if pm.path.MatchString(req.URL.Path) {
				allow = append(allow, pm.methods...)
			}
		}
		slices.Sort(allow)
		w.Header().Set("Allow", strings.Join(slices.Compact(allow), ", "))
		web.WriteProblem(w, req, web.Errorf(http.StatusMethodNotAllowed, "method-not-allowed", "%s is not allowed on %s.", req.Method, req.URL.Path))
	})
}
