package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/web"
)

func TestPanicBecomesProblemWithoutStack(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := requestID(log)(recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret internal detail")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != 500 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("panic answered %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	if strings.Contains(body, "secret internal detail") || strings.Contains(body, "goroutine") || strings.Contains(body, ".go:") {
		t.Fatalf("panic detail leaked to client: %s", body)
	}
	var p web.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.RequestID == "" {
		t.Fatalf("problem body %s (%v)", body, err)
	}
	if !strings.Contains(logs.String(), "secret internal detail") || !strings.Contains(logs.String(), "goroutine") {
		t.Fatalf("panic and stack not logged: %s", logs.String())
	}
}

func TestBodyLimit(t *testing.T) {
	type req struct {
		Name string `json:"name"`
	}
	h := limitBody(32)(web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		if _, err := web.Decode[req](r); err != nil {
			return err
		}
		w.WriteHeader(204)
		return nil
	}))
	tests := []struct {
		name     string
		body     string
		chunked  bool
		wantCode int
	}{
		{"small", `{"name":"a"}`, false, 204},
		{"declared too large", `{"name":"` + strings.Repeat("a", 100) + `"}`, false, 413},
		{"streamed too large", `{"name":"` + strings.Repeat("a", 100) + `"}`, true, 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/x", strings.NewReader(tc.body))
			if tc.chunked {
				r.ContentLength = -1
				r.Body = io.NopCloser(strings.NewReader(tc.body))
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.wantCode {
				t.Fatalf("code %d, want %d: %s", rec.Code, tc.wantCode, rec.Body)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	c := config.Default()
	c.Spec.Server.CORS.AllowedOrigins = []string{"https://app.example"}
	store := config.NewStore(c, "")
	h := cors(store)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))

	pre := httptest.NewRequest("OPTIONS", "/users/1", nil)
	pre.Header.Set("Origin", "https://app.example")
	pre.Header.Set("Access-Control-Request-Method", "PUT")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, pre)
	if rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(rec.Header().Get("Access-Control-Allow-Methods"), "PUT") {
		t.Fatalf("preflight = %d %v", rec.Code, rec.Header())
	}

	other := httptest.NewRequest("GET", "/users/1", nil)
	other.Header.Set("Origin", "https://evil.example")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, other)
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("disallowed origin got CORS headers")
	}

	// Origins reload live.
	next := config.Default()
	next.Spec.Server.CORS.AllowedOrigins = []string{"https://evil.example"}
	store.Apply(next)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, other)
	if rec.Header().Get("Access-Control-Allow-Origin") != "https://evil.example" {
		t.Fatal("reloaded CORS origins not applied")
	}
}

// TestDispatcher checks the router path that skips mux's request copies:
// variables and route templates reach handlers and metrics, route-level
// middleware runs once per matched request, and everything else (unclean
// paths, unknown paths, wrong methods) is answered as mux.Router would.
func TestDispatcher(t *testing.T) {
	r := mux.NewRouter()
	r.NotFoundHandler = notFound()
	r.MethodNotAllowedHandler = methodNotAllowed(r)
	wrapped := 0
	rs := &routes{mux: r, wrap: []func(http.Handler) http.Handler{func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			wrapped++
			next.ServeHTTP(w, r)
		})
	}}}
	var gotRoute, gotVars string
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotRoute = web.Route(r.Context())
		gotVars = web.Var(r, "name") + "|" + web.Var(r, "id")
		w.WriteHeader(200)
	})
	rs.Handle("GET", "/users/{id}", echo)
	rs.Handle("PUT", "/locks/{name:.+}", echo)
	h := requestID(slog.New(slog.DiscardHandler))(dispatcher{r})

	tests := []struct {
		method, path string
		code         int
		route, vars  string
		location     string
		allow        string
	}{
		{"GET", "/users/42", 200, "/users/{id}", "|42", "", ""},
		{"HEAD", "/users/42", 200, "/users/{id}", "|42", "", ""},
		{"PUT", "/locks/a/b:c", 200, "/locks/{name:.+}", "a/b:c|", "", ""},
		{"GET", "/users/%34%32", 200, "/users/{id}", "|42", "", ""},
		{"GET", "/users//42", 301, "", "", "/users/42", ""},
		{"GET", "/users/../users/7", 301, "", "", "/users/7", ""},
		{"GET", "/nowhere", 404, "", "", "", ""},
		{"DELETE", "/users/42", 405, "", "", "", "GET, HEAD"},
		{"GET", "/locks/a", 405, "", "", "", "PUT"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			gotRoute, gotVars, wrapped = "", "", 0
			req := httptest.NewRequest(tc.method, tc.path, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("%s %s = %d, want %d: %s", tc.method, tc.path, rec.Code, tc.code, rec.Body)
			}
			if gotRoute != tc.route || gotVars != tc.vars {
				t.Fatalf("handler saw route %q vars %q, want %q %q", gotRoute, gotVars, tc.route, tc.vars)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.code == 200]; wrapped != want {
				t.Fatalf("route middleware ran %d times, want %d", wrapped, want)
			}
			if loc := rec.Header().Get("Location"); loc != tc.location {
				t.Fatalf("Location %q, want %q", loc, tc.location)
			}
			if allow := rec.Header().Get("Allow"); allow != tc.allow {
				t.Fatalf("Allow %q, want %q", allow, tc.allow)
			}
			if tc.code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d answered as %s", tc.code, rec.Header().Get("Content-Type"))
			}
		})
	}

	// Without request state (no requestID in front) the router serves the
	// request itself, and web.Var finds the variables in mux's context.
	t.Run("no request state", func(t *testing.T) {
		gotVars, wrapped = "", 0
		rec := httptest.NewRecorder()
		dispatcher{r}.ServeHTTP(rec, httptest.NewRequest("GET", "/users/42", nil))
		if rec.Code != 200 || gotVars != "|42" || wrapped != 1 {
			t.Fatalf("GET /users/42 = %d, vars %q, route middleware ran %d times", rec.Code, gotVars, wrapped)
		}
	})
}

// The access log keeps 1 KiB of a path, cut on a rune boundary, and says
// how long it was.
func TestClipForLog(t *testing.T) {
	if got := clipForLog("/short"); got != "/short" {
		t.Fatalf("short path changed: %q", got)
	}
	long := "/" + strings.Repeat("é", 1000) // 2,001 bytes, 'é' is 2
	got := clipForLog(long)
	if !strings.HasSuffix(got, "…[truncated, 2001 bytes]") || !utf8.ValidString(got) || len(got) > maxLogged+40 {
		t.Fatalf("clipForLog = %q", got)
	}
}
