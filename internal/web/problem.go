// Package web holds the HTTP plumbing every handler shares: JSON decoding with
// validation, JSON encoding, RFC 9457 problem+json errors and request-scoped
// values such as the request ID.
package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"time"
)

// ProblemBase prefixes every problem type URI; the slugs after it are stable.
const ProblemBase = "https://redlane.dev/problems/"

// FieldProblem names one invalid input field.
type FieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Status    int            `json:"status"`
	Detail    string         `json:"detail,omitempty"`
	Instance  string         `json:"instance,omitempty"`
	RequestID string         `json:"requestId,omitempty"`
	Errors    []FieldProblem `json:"errors,omitempty"`
}

// Error is an error that knows its HTTP answer. Handlers return or pass it
// to Respond; anything else becomes a 500 (or 503 when Redis is unreachable).
type Error struct {
	Status     int
	Slug       string            // problem type after ProblemBase, e.g. "validation"
	Detail     string            // safe to show to the caller
	Fields     map[string]string // field path -> what is wrong
	RetryAfter time.Duration     // sets Retry-After when > 0
	Err        error             // cause, logged, never shown
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%d %s: %s", e.Status, e.Slug, e.Detail)
	if len(e.Fields) > 0 {
		msg += fmt.Sprint(" ", e.Fields)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error with a formatted detail.
func Errorf(status int, slug, format string, args ...any) *Error {
	return &Error{Status: status, Slug: slug, Detail: fmt.Sprintf(format, args...)}
}

// Invalid is the 422 answer for input that parsed but broke the rules.
func Invalid(fields map[string]string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Slug: "validation", Detail: "The request has invalid fields.", Fields: fields}
}

// BadRequest is the 400 answer naming one field.
func BadRequest(field, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Slug: "bad-request", Detail: message, Fields: map[string]string{field: message}}
}

// NotFound is the 404 answer.
func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, "not-found", format, args...)
}

// Unavailable is the 503 answer for a dependency that is down; callers
// should retry after a moment.
func Unavailable(what string, err error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Slug: "unavailable", Detail: what + " is unavailable; try again shortly.", RetryAfter: time.Second, Err: err}
}

// Respond writes err as problem+json. Unknown errors are logged with the
// request ID and shown only as a generic 500.
func Respond(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		if unavailable(err) {
			e = Unavailable("A backing service", err)
		} else {
			e = &Error{Status: http.StatusInternalServerError, Slug: "internal", Detail: "An internal error occurred; the request ID identifies it in the logs.", Err: err}
		}
	}
	if e.Status >= 500 {
		Logger(r.Context()).Error("request failed", "status", e.Status, "error", errString(e))
	}
	WriteProblem(w, r, e)
}

func errString(e *Error) string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return e.Detail
}

// WriteProblem writes e without logging.
func WriteProblem(w http.ResponseWriter, r *http.Request, e *Error) {
	p := Problem{
		Type:      ProblemBase + e.Slug,
		Title:     http.StatusText(e.Status),
		Status:    e.Status,
		Detail:    e.Detail,
		Instance:  r.URL.Path,
		RequestID: RequestID(r.Context()),
	}
	for f, m := range e.Fields {
		p.Errors = append(p.Errors, FieldProblem{Field: f, Message: m})
	}
	sort.Slice(p.Errors, func(i, j int) bool { return p.Errors[i].Field < p.Errors[j].Field })
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	b, _ := marshal(p)
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

// Handle adapts a handler that returns an error; the error is answered with
// Respond.
func Handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			Respond(w, r, err)
		}
	})
}

// unavailable recognises a dependency that could not be reached in time: a
// network error or a deadline. Packages that know better wrap their errors
// with Unavailable themselves.
func unavailable(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne)
}
