package httpapi

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/telemetry"
	"github.com/redlane/redlane/internal/web"
)

func routeOf(ctx context.Context) string {
	if tpl := web.Route(ctx); tpl != "" {
		return tpl
	}
	return "unmatched"
}

// requestID accepts a sane incoming X-Request-ID or makes one, echoes it,
// and puts it (and a logger carrying it) in the context.
func requestID(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var id string
			if v := r.Header["X-Request-Id"]; len(v) > 0 { // canonical key: no allocation
				id = v[0]
			}
			if !validRequestID(id) {
				id = newRequestID()
			}
			w.Header()["X-Request-Id"] = []string{id}
			next.ServeHTTP(w, r.WithContext(web.WithRequest(r.Context(), id, log)))
		})
	}
}

// newRequestID makes 24 hex digits from the runtime's ChaCha8 generator:
// unguessable enough for correlating logs, and no system call per request.
func newRequestID() string {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint32(b[8:], rand.Uint32())
	return hex.EncodeToString(b[:])
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// recoverPanics turns a panic into a problem+json 500; the stack goes to the
// log, never to the client.
func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			web.Logger(r.Context()).Error("panic serving request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			web.WriteProblem(w, r, web.Errorf(http.StatusInternalServerError, "internal",
				"An internal error occurred; the request ID identifies it in the logs."))
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies; web.Decode turns the overflow into a 413.
func limitBody(max int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				web.WriteProblem(w, r, web.Errorf(http.StatusRequestEntityTooLarge, "body-too-large", "The request body is larger than %d bytes.", max))
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, max)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// quietRoutes are logged at debug level: probes and scrapes would otherwise
// drown the access log.
var quietRoutes = []string{"/healthz", "/readyz", "/metrics"}

// observe logs one line per request and records request metrics, labelled
// by route template. It costs one allocation per request (the writer
// wrapper); metric children are cached per route, method and code.
func observe(m *httpMetrics, trusted []netip.Prefix, log *slog.Logger) func(http.Handler) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.inFlight.Inc()
			defer m.inFlight.Dec()
			start := time.Now()
			ww := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(ww, r)
			elapsed := time.Since(start)
			route := routeOf(r.Context())
			method := normMethod(r.Method)
			endRequestSpan(r, ww.status)
			c := m.children(route, method, ww.status)
			c.requests.Inc()
			if !ww.hijacked {
				telemetry.Observe(c.duration, elapsed.Seconds(), trace.SpanContextFromContext(r.Context()))
			}
			level := slog.LevelInfo
			if slices.Contains(quietRoutes, route) {
				level = slog.LevelDebug
			}
			if !log.Enabled(r.Context(), level) {
				return // do not build (or allocate) a line nobody keeps
			}
			web.Logger(r.Context()).Log(r.Context(), level, "request",
				"method", r.Method, "route", route, "path", clipForLog(r.URL.Path), "status", ww.status,
				"bytes", ww.size, "duration_ms", float64(elapsed.Microseconds())/1000,
				"remote", web.ClientIP(r, trusted), "user_agent", clipForLog(r.UserAgent()))
		})
	}
}

// statusWriter records the status and size of a response. It passes
// Flush and Hijack through (for streaming and WebSocket upgrades) and
// unwraps for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status   int
	size     int64
	wrote    bool
	hijacked bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(b)
	w.size += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	w.wrote = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, b, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked, w.status = true, http.StatusSwitchingProtocols
	}
	return c, b, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func normMethod(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "OTHER"
}

// cors answers preflights and adds CORS headers for allowed origins. It reads
// the current config on every request, so origin lists reload live.
func cors(cfg *config.Store) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			c := cfg.Current().Spec.Server.CORS
			if origin == "" || len(c.AllowedOrigins) == 0 {
				next.ServeHTTP(w, r)
				return
			}
			h := w.Header()
			h.Add("Vary", "Origin")
			allowed := slices.Contains(c.AllowedOrigins, "*") || slices.Contains(c.AllowedOrigins, origin)
			if !allowed {
				next.ServeHTTP(w, r)
				return
			}
			if slices.Contains(c.AllowedOrigins, "*") && !c.AllowCredentials {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
			}
			if c.AllowCredentials {
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After, RateLimit, RateLimit-Policy, ETag, Cache-Status, Location")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
				h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE")
				h.Set("Access-Control-Allow-Headers", strings.Join(c.AllowedHeaders, ", "))
				h.Set("Access-Control-Max-Age", strconv.Itoa(int(c.MaxAge.Seconds())))
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
