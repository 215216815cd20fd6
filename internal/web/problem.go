// Package web holds the HTTP plumbing every handler shares: JSON decoding with
// validation, JSON encoding, RFC 9457 problem+json errors and request-scoped
// values such as the request ID.
package web

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/redlane/redlane/internal/errdefs"
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

// Error is an answer that only HTTP has (a malformed query parameter, a body
// too large, a missing token, too many requests). Domain failures are
// errdefs errors, which Respond maps; anything else becomes a 500 (or 503
// when a backing service is unreachable).
type Error struct {
	Status     int
	Slug       string            // problem type after ProblemBase, e.g. "bad-request"
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

// BadRequest is the 400 answer naming one field: a path segment, query
// parameter or header that could not be read at all.
func BadRequest(field, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Slug: "bad-request", Detail: message, Fields: map[string]string{field: message}}
}

// kinds maps each errdefs kind to its status and default problem slug.
var kinds = map[errdefs.Kind]struct {
	status int
	slug   string
}{
	errdefs.KindInvalid:     {status: http.StatusUnprocessableEntity, slug: "validation"},
	errdefs.KindNotFound:    {status: http.StatusNotFound, slug: "not-found"},
	errdefs.KindConflict:    {status: http.StatusConflict, slug: "conflict"},
	errdefs.KindUnavailable: {status: http.StatusServiceUnavailable, slug: "unavailable"},
	errdefs.KindForbidden:   {status: http.StatusForbidden, slug: "forbidden"},
}

// answer is the HTTP answer to err: a *Error as it is, an errdefs error by
// its kind, an unreachable backing service as 503, anything else a 500
// that shows nothing of the cause.
func answer(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var d *errdefs.Error
	if errors.As(err, &d) {
		if k, ok := kinds[d.Kind]; ok {
			slug := d.Code
			if slug == "" {
				slug = k.slug
			}
			return &Error{Status: k.status, Slug: slug, Detail: d.Detail, Fields: d.Fields, RetryAfter: d.RetryAfter, Err: err}
		}
	}
	if errdefs.IsUnavailable(err) {
		return answer(errdefs.Unavailable("A backing service (Redis or the database)", err))
	}
	return &Error{Status: http.StatusInternalServerError, Slug: "internal", Detail: "An internal error occurred; the request ID identifies it in the logs.", Err: err}
}

// Respond writes err as problem+json (see answer). Answers of 500 and above
// are logged with the cause and the request ID.
func Respond(w http.ResponseWriter, r *http.Request, err error) {
	e := answer(err)
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
