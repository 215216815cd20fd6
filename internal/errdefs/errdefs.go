// Package errdefs names the kinds of failure every domain package reports —
// invalid input (with the fields at fault), not found, conflict, and a
// backing service that is unavailable — so that callers can tell them apart
// with errors.Is/As, and the HTTP layer (web) maps each kind to one answer.
package errdefs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Kind is what went wrong, independent of any transport.
type Kind uint8

const (
	// KindInternal is anything not classified: a bug or an unexpected reply.
	KindInternal Kind = iota
	// KindInvalid is input that parsed but broke a rule (Fields say which).
	KindInvalid
	// KindNotFound is a named thing that does not exist.
	KindNotFound
	// KindConflict is a request at odds with the current state (a lock held
	// by another owner, a stale receipt, a taken username).
	KindConflict
	// KindUnavailable is a backing service (Redis, the database) that could
	// not be reached in time; retrying shortly may succeed.
	KindUnavailable
	// KindForbidden is a caller that may not do this (a room policy refuses
	// it); the answer is the same whether the thing exists or not.
	KindForbidden
)

// Error is a classified failure. Detail and Fields are safe to show to the
// caller; Err, the cause, is only logged.
type Error struct {
	Kind Kind
	// Code is a stable, machine-readable slug ("lock-held", "stale-receipt");
	// empty means the kind's default.
	Code string
	// Detail is one sentence for the caller.
	Detail string
	// Fields maps an input field path to what is wrong with it.
	Fields map[string]string
	// RetryAfter, when set, is how long the caller should wait before retrying.
	RetryAfter time.Duration
	// Err is the cause.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Detail)
	for _, f := range slices.Sorted(maps.Keys(e.Fields)) {
		fmt.Fprintf(&b, " %s: %s;", f, e.Fields[f])
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return strings.TrimSuffix(b.String(), ";")
}

func (e *Error) Unwrap() error { return e.Err }

// Invalid reports one bad input field.
func Invalid(field, message string) *Error {
	return &Error{Kind: KindInvalid, Detail: "The request has invalid fields.", Fields: map[string]string{field: message}}
}

// InvalidFields reports several bad input fields (field path -> problem).
func InvalidFields(fields map[string]string) *Error {
	return &Error{Kind: KindInvalid, Detail: "The request has invalid fields.", Fields: fields}
}

// NotFound reports a missing thing; the detail is formatted.
func NotFound(format string, args ...any) *Error {
	return &Error{Kind: KindNotFound, Detail: fmt.Sprintf(format, args...)}
}

// Conflict reports a request at odds with the current state, under a stable
// code.
func Conflict(code, detail string) *Error {
	return &Error{Kind: KindConflict, Code: code, Detail: detail}
}

// Forbidden reports a caller refused by a policy, under a stable code,
// naming the input field whose value was refused.
func Forbidden(code, detail, field string) *Error {
	return &Error{Kind: KindForbidden, Code: code, Detail: detail, Fields: map[string]string{field: detail}}
}

// Unavailable reports that what (e.g. "The task queue") could not reach a
// backing service; err is the cause.
func Unavailable(what string, err error) *Error {
	return &Error{Kind: KindUnavailable, Detail: what + " is unavailable; try again shortly.", RetryAfter: time.Second, Err: err}
}

// Because returns a copy of e with cause as its Err, so that errors.Is
// finds a package's own sentinel (lock.ErrInvalid) in a classified error.
func (e *Error) Because(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// KindOf classifies err: the Kind of the first *Error in its chain, else
// KindUnavailable for an unreachable backing service (IsUnavailable), else
// KindInternal.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Kind
	case IsUnavailable(err):
		return KindUnavailable
	}
	return KindInternal
}

// unreachable are fragments of the messages of drivers that report a lost
// or refused connection, or a Redis node that cannot serve yet, without a
// typed error.
var unreachable = []string{
	"connection refused", "i/o timeout", "EOF", "broken pipe", "connection reset", "no such host",
	"LOADING", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN",
	"failed to connect", "connect: ", "conn closed", "closed pool",
}

// IsUnavailable reports whether err means a backing service (Redis or the
// database) could not be reached in time, as opposed to a command error
// such as WRONGTYPE or a constraint violation: callers answer 503 or fall
// back instead of failing.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind == KindUnavailable
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	s := err.Error()
	for _, m := range unreachable {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
