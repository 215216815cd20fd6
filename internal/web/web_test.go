package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/web"
)

type login struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Age      int    `json:"age"`
}

func (l login) Valid() map[string]string {
	p := map[string]string{}
	if l.Username == "" {
		p["username"] = "must not be empty"
	}
	if l.Password == "" {
		p["password"] = "must not be empty"
	}
	return p
}

func TestDecodeAnswersEveryMistakeWithItsField(t *testing.T) {
	tests := []struct {
		name, ctype, body string
		code              int
		slug              string
		fields            []string
	}{
		{"ok", "application/json", `{"username":"a","password":"b"}`, 200, "", nil},
		{"no content type is fine", "", `{"username":"a","password":"b"}`, 200, "", nil},
		{"form content type", "application/x-www-form-urlencoded", `username=a`, 415, "unsupported-media-type", nil},
		{"empty", "application/json", ``, 400, "bad-request", nil},
		{"malformed", "application/json", `{"username":`, 400, "malformed-json", nil},
		{"syntax", "application/json", `{"username" "a"}`, 400, "malformed-json", nil},
		{"unknown field", "application/json", `{"username":"a","password":"b","admin":true}`, 400, "unknown-field", []string{"admin"}},
		{"wrong type", "application/json", `{"username":"a","password":"b","age":"x"}`, 400, "bad-request", []string{"age"}},
		{"trailing data", "application/json", `{"username":"a","password":"b"} {}`, 400, "bad-request", nil},
		{"not an object", "application/json", `[1]`, 400, "bad-request", []string{"body"}},
		{"invalid fields", "application/json", `{"username":"","password":""}`, 422, "validation", []string{"password", "username"}},
		{"null", "application/json", `null`, 400, "bad-request", []string{"body"}},
		{"a string", "application/json", `"a"`, 400, "bad-request", []string{"body"}},
		{"duplicate key", "application/json", `{"username":"a","password":"b","username":"admin"}`, 400, "bad-request", []string{"username"}},
		{"duplicate key in another case", "application/json", `{"username":"a","password":"b","Username":"admin"}`, 400, "bad-request", []string{"Username"}},
		{"duplicate key by escape", "application/json", `{"username":"a","password":"b","\u0075sername":"admin"}`, 400, "bad-request", []string{"username"}},
		{"NUL escaped", "application/json", `{"username":"a\u0000b","password":"b"}`, 400, "bad-request", []string{"username"}},
		{"invalid UTF-8", "application/json", "{\"username\":\"a\xffb\",\"password\":\"b\"}", 400, "bad-request", []string{"username"}},
		{"unpaired surrogate", "application/json", `{"username":"a\ud800","password":"b"}`, 400, "bad-request", []string{"username"}},
		{"the empty key", "application/json", `{"username":"a","password":"b","":1}`, 400, "unknown-field", []string{`""`}},
		{"paired surrogates are fine", "application/json", `{"username":"\ud83d\ude00","password":"b"}`, 200, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := web.Handle(func(w http.ResponseWriter, r *http.Request) error {
				v, err := web.Decode[login](r)
				if err != nil {
					return err
				}
				return web.Encode(w, 200, v)
			})
			r := httptest.NewRequest("POST", "/auth/login", strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if tc.code == 200 {
				return
			}
			var p web.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("not a problem: %s", rec.Body)
			}
			if rec.Header().Get("Content-Type") != "application/problem+json" || p.Type != web.ProblemBase+tc.slug || p.Status != tc.code {
				t.Fatalf("problem = %+v (%s)", p, rec.Header().Get("Content-Type"))
			}
			var got []string
			for _, f := range p.Errors {
				got = append(got, f.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Fatalf("fields = %v, want %v", got, tc.fields)
			}
		})
	}
}

func TestUnknownErrorsAreGeneric500s(t *testing.T) {
	h := web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return &json.UnsupportedValueError{Str: "db password is hunter2"}
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "hunter2") {
		t.Fatalf("500 = %d %s", rec.Code, rec.Body)
	}
}

func TestClientIPTrustsOnlyConfiguredProxies(t *testing.T) {
	trusted := web.ParsePrefixes([]string{"10.0.0.0/8"})
	tests := []struct{ remote, xff, want string }{
		{"203.0.113.5:1234", "1.2.3.4", "203.0.113.5"},             // untrusted peer: header ignored
		{"10.0.0.1:1234", "1.2.3.4", "1.2.3.4"},                    // trusted proxy
		{"10.0.0.1:1234", "6.6.6.6, 1.2.3.4, 10.0.0.2", "1.2.3.4"}, // rightmost untrusted hop
		{"10.0.0.1:1234", "", "10.0.0.1"},
		{"10.0.0.1:1234", "garbage", "10.0.0.1"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := web.ClientIP(r, trusted); got != tc.want {
			t.Errorf("ClientIP(%s, %q) = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

// Every domain error kind has one answer, whichever package returns it.
func TestDomainErrorsMapOnce(t *testing.T) {
	for _, tc := range []struct {
		err        error
		status     int
		slug       string
		field      string
		retryAfter string
	}{
		{errdefs.Invalid("ttl", "too long"), 422, "validation", "ttl", ""},
		{fmt.Errorf("op: %w", errdefs.NotFound("No task %q.", "x")), 404, "not-found", "", ""},
		{errdefs.Conflict("lock-held", "Held."), 409, "lock-held", "", ""},
		{&errdefs.Error{Kind: errdefs.KindConflict, Detail: "Taken.", Fields: map[string]string{"username": "already taken"}}, 409, "conflict", "username", ""},
		{errdefs.Unavailable("The queue", errors.New("refused")), 503, "unavailable", "", "1"},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), 503, "unavailable", "", "1"},
		{web.BadRequest("limit", "must be 1-10"), 400, "bad-request", "limit", ""},
	} {
		rec := httptest.NewRecorder()
		web.Respond(rec, httptest.NewRequest("GET", "/x", nil), tc.err)
		var p web.Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if rec.Code != tc.status || p.Type != web.ProblemBase+tc.slug || rec.Header().Get("Retry-After") != tc.retryAfter ||
			rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%v: %d %s Retry-After %q", tc.err, rec.Code, rec.Body, rec.Header().Get("Retry-After"))
		}
		if tc.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tc.field) {
			t.Errorf("%v: errors %v, want field %s", tc.err, p.Errors, tc.field)
		}
		if strings.Contains(rec.Body.String(), "refused") {
			t.Errorf("%v: the cause leaked into the answer: %s", tc.err, rec.Body)
		}
	}
}

// CheckJSON names the path of the first value breaking the input rules.
func TestCheckJSONNamesThePath(t *testing.T) {
	for _, tc := range []struct{ doc, field, problem string }{
		{`{"a":1,"b":[1,{"c":"x"}]}`, "", ""},
		{`{"a":{"b":1,"b":2}}`, "a.b", "duplicate"},
		{`{"":0,"":0}`, `""`, "duplicate"}, // found by FuzzCheckJSON: the path was empty
		{`{"a":{"b":1,"B":2}}`, "", ""},    // nested keys are compared exactly (payloads are anyone's JSON)
		{`{"a":1,"A":2}`, "A", "duplicate"},
		{`{"p":{"items":["ok","x\u0000"]}}`, "p.items[1]", "NUL"},
		{`{"k\u0000":1}`, "k\x00", "NUL"},
		{`"\u0000"`, "body", "NUL"},
		{`["a","\udfff"]`, "body[1]", "UTF-8"},
		{"{\"a\":\"\xc3\x28\"}", "a", "UTF-8"},
		{`{"a":"\u00e9\u4e2d\ud83d\ude00 \\u0000"}`, "", ""}, // an escaped backslash, then "u0000": text
	} {
		field, problem := web.CheckJSON([]byte(tc.doc))
		if field != tc.field || !strings.Contains(problem, tc.problem) || (tc.problem == "") != (problem == "") {
			t.Errorf("CheckJSON(%s) = %q, %q; want %q, %q", tc.doc, field, problem, tc.field, tc.problem)
		}
	}
}

// DecodeOptional takes a missing body as the zero value, but a body that is
// there must be an object: null is not "no body".
func TestDecodeOptionalNoBodyVersusNull(t *testing.T) {
	type opts struct {
		TTL string `json:"ttl"`
	}
	for _, tc := range []struct {
		name, body string
		chunked    bool
		code       int
	}{
		{"no body", "", false, 200},
		{"no body, chunked", "", true, 200},
		{"whitespace", " \n", true, 200},
		{"empty object", "{}", false, 200},
		{"null", "null", false, 400},
		{"list", "[]", false, 400},
		{"duplicate", `{"ttl":"1s","ttl":"2s"}`, false, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := web.Handle(func(w http.ResponseWriter, r *http.Request) error {
				v, err := web.DecodeOptional[opts](r)
				if err != nil {
					return err
				}
				return web.Encode(w, 200, v)
			})
			r := httptest.NewRequest("POST", "/locks/x", strings.NewReader(tc.body))
			if tc.chunked {
				r.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.code {
				t.Fatalf("%q: %d %s, want %d", tc.body, rec.Code, rec.Body, tc.code)
			}
		})
	}
}
