package users

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/redlane/redlane/internal/cache"
	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redistest"
	"github.com/redlane/redlane/internal/store"
	"github.com/redlane/redlane/internal/web"
)

func TestParseID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"7", "7"}, {"007", "7"}, {"+7", "7"}, {"9223372036854775807", "9223372036854775807"},
		{"0", ""}, {"-1", ""}, {"x", ""}, {"", ""}, {"1.5", ""}, {"9223372036854775808", ""},
	} {
		got, err := parseID(tc.in)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("parseID(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	ids, err := parseIDs([]string{"3, 1,3", "007", ""}, 3)
	if err != nil || strings.Join(ids, " ") != "3 1 7" {
		t.Errorf("parseIDs = %v, %v; want 3 1 7 (deduplicated, canonical, in order)", ids, err)
	}
	for _, vals := range [][]string{{"1,2,3,4"}, {"1,x"}, {" , "}} {
		if _, err := parseIDs(vals, 3); err == nil {
			t.Errorf("parseIDs(%q) accepted", vals)
		}
	}
}

// rig serves the users API on a real Redis and an in-memory SQLite with
// three demo users, behind a plain gorilla/mux router.
func rig(t *testing.T) (http.Handler, *redistest.Server) {
	t.Helper()
	rs := redistest.Start(t)
	cfg := config.Default()
	seed := 3
	cfg.Spec.Database.SeedUsers = &seed
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(context.Background(), cfg.Spec.Database, store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cs := config.NewStore(cfg, "")
	c := cache.New(rs.Redisx(t), cs, cache.Options{Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	s := New(c, db, cs, Options{Logger: log})
	r := mux.NewRouter()
	r.Handle("/users/{id}", s.HandleGet()).Methods("GET")
	r.Handle("/users", s.HandleList()).Methods("GET")
	r.Handle("/users", s.HandleCreate()).Methods("POST")
	r.Handle("/users/{id}", s.HandleReplace()).Methods("PUT")
	r.Handle("/users/{id}", s.HandlePatch()).Methods("PATCH")
	r.Handle("/users/{id}", s.HandleDelete()).Methods("DELETE")
	r.Handle("/cache/warm", s.HandleWarm()).Methods("POST")
	return r, rs
}

// Every failure is answered by the one problem+json mapping: the status,
// the problem type and the field at fault.
func TestErrorsAreProblems(t *testing.T) {
	h, rs := rig(t)
	// Another pod holds the warm lease (internal/lock keeps a HASH {token, fence}).
	rdb := rs.Client()
	rdb.HSet(context.Background(), "redlane:lock:{cache-warm}", "token", "another-pod", "fence", 1)
	rdb.PExpire(context.Background(), "redlane:lock:{cache-warm}", time.Minute)

	for _, tc := range []struct {
		method, path, body string
		status             int
		slug, field        string
		retryAfter         string
	}{
		{"GET", "/users/abc", "", 400, "bad-request", "id", ""},
		{"GET", "/users/0", "", 400, "bad-request", "id", ""},
		{"GET", "/users/999", "", 404, "not-found", "", ""},
		{"GET", "/users?limit=0", "", 400, "bad-request", "limit", ""},
		{"GET", "/users?limit=501", "", 400, "bad-request", "limit", ""},
		{"GET", "/users?after=-1", "", 400, "bad-request", "after", ""},
		{"GET", "/users?after=x", "", 400, "bad-request", "after", ""},
		{"GET", "/users?sort=name", "", 400, "bad-request", "sort", ""},
		{"GET", "/users?ids=1,x", "", 400, "bad-request", "ids", ""},
		{"POST", "/users", `{"username":"user1","email":"o@example.com","password":"long enough"}`, 409, "conflict", "username", ""},
		{"PATCH", "/users/999", `{"display_name":"x"}`, 404, "not-found", "", ""},
		{"PUT", "/users/999", `{"username":"nobody","email":"n@example.com","display_name":"x"}`, 404, "not-found", "", ""},
		{"DELETE", "/users/999", "", 404, "not-found", "", ""},
		{"POST", "/cache/warm", `{"top":0}`, 422, "validation", "top", ""},
		{"POST", "/cache/warm", `{"top":2}`, 409, "warm-running", "", "1"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
			var p web.Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != tc.status ||
				w.Header().Get("Content-Type") != "application/problem+json" || p.Type != web.ProblemBase+tc.slug {
				t.Fatalf("= %d %s %s; want %d %s", w.Code, w.Header().Get("Content-Type"), w.Body, tc.status, tc.slug)
			}
			if tc.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tc.field) {
				t.Errorf("errors = %+v; want one on %q", p.Errors, tc.field)
			}
			if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
			}
		})
	}
}

func TestPagesAndBatches(t *testing.T) {
	h, _ := rig(t)
	get := func(path string) (int, map[string]any) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		var m map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		return w.Code, m
	}
	if code, m := get("/users?limit=2"); code != 200 || len(m["users"].([]any)) != 2 || m["next_after"] != 2.0 {
		t.Fatalf("first page = %d %v", code, m)
	}
	if code, m := get("/users?limit=2&after=2"); code != 200 || len(m["users"].([]any)) != 1 || m["next_after"] != nil {
		t.Fatalf("last page = %d %v", code, m)
	}
	if code, m := get("/users?ids=3,1,99,1"); code != 200 || len(m["users"].([]any)) != 2 || len(m["missing"].([]any)) != 1 {
		t.Fatalf("batch = %d %v", code, m)
	}
}
