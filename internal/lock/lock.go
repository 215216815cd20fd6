// Package lock provides distributed leases on Redis with fencing tokens: a
// lease is held by whoever knows its random token, expires by itself after
// its TTL, and carries a fence number that grows with every acquisition of
// the same name, so a resource can reject writes from a holder whose lease
// has already passed to someone else. It serves Go callers inside Redlane
// (cache warming) and the /locks HTTP API.
package lock

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/redisx"
)

// Errors callers compare with errors.Is.
var (
	// ErrNotHeld: the token does not hold the lock (it expired, was
	// released, or never held it).
	ErrNotHeld = errdefs.Conflict("lock-not-held", "This token does not hold the lock (wrong token, expired or released).")
	// ErrTimeout: the lock stayed held by someone else for the whole wait.
	ErrTimeout = errors.New("lock still held by another owner when the wait ran out")
	// ErrInvalid: a name or duration outside the documented bounds; the
	// errdefs error that carries it names the field.
	ErrInvalid = errors.New("invalid lock request")
)

// Bounds of names and TTLs, for Go callers and the HTTP API alike.
const (
	MaxNameLen = 200
	MinTTL     = 10 * time.Millisecond
	MaxTTL     = 24 * time.Hour
)

// TimeoutError is the ErrTimeout with how long the current holder's lease
// still runs. Acquire returns it inside an errdefs conflict ("lock-held")
// whose RetryAfter is that time.
type TimeoutError struct{ HeldFor time.Duration }

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s (current lease ends in %s)", ErrTimeout, e.HeldFor)
}

// Is makes errors.Is(err, ErrTimeout) true.
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// Locker acquires leases and serves them over HTTP. It is safe for
// concurrent use; one per process.
type Locker struct {
	rc      *redisx.Client
	cfg     *config.Store // bounds an HTTP acquire's wait; nil outside the HTTP API
	keys    keys
	metrics *metrics
	// Poll is the backoff between attempts while waiting: exponential with
	// jitter, never sleeping past the moment the holder's lease expires.
	Poll func() *backoff.ExponentialBackOff
}

// New returns a Locker on rc whose metrics are registered on reg (nil: not
// registered) and whose HTTP handlers read their limits from cfg (nil for a
// Locker used only from Go).
func New(rc *redisx.Client, reg prometheus.Registerer, cfg *config.Store) *Locker {
	return &Locker{
		rc:      rc,
		cfg:     cfg,
		keys:    keys{rc},
		metrics: newMetrics(reg),
		Poll: func() *backoff.ExponentialBackOff {
			return &backoff.ExponentialBackOff{
				InitialInterval:     5 * time.Millisecond,
				RandomizationFactor: 0.5,
				Multiplier:          2,
				MaxInterval:         200 * time.Millisecond,
			}
		},
	}
}

// Lease is one holding of a lock. Its methods are safe for concurrent use
// only in the sense Redis makes them atomic; a Lease belongs to one owner.
type Lease struct {
	l     *Locker
	name  string
	token string
	fence int64
}

// Name is the lock's name.
func (le *Lease) Name() string { return le.name }

// Token is the secret that proves ownership; never log it.
func (le *Lease) Token() string { return le.token }

// Fence is the fencing token: strictly greater than the fence of every
// earlier lease on the same name. Pass it to the protected resource and have
// it refuse writes carrying a smaller fence than one it has seen.
func (le *Lease) Fence() int64 { return le.fence }

// Extend sets the lease's remaining time to ttl, if it is still held.
func (le *Lease) Extend(ctx context.Context, ttl time.Duration) error {
	_, err := le.l.Extend(ctx, le.name, le.token, ttl)
	return err
}

// Release gives the lock up; ErrNotHeld if it had already expired.
func (le *Lease) Release(ctx context.Context) error {
	return le.l.Release(ctx, le.name, le.token)
}

// Acquire takes the lock name for ttl, waiting up to wait (0: one attempt)
// while someone else holds it. It fails with a conflict holding a
// *TimeoutError (ErrTimeout) when the wait runs out, or with ctx's error.
func (l *Locker) Acquire(ctx context.Context, name string, ttl, wait time.Duration) (*Lease, error) {
	if err := Validate(name, ttl); err != nil {
		return nil, err
	}
	if wait < 0 {
		return nil, invalid("wait", "must not be negative")
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	deadline := start.Add(wait)
	bo := l.Poll()
	for attempt := 0; ; attempt++ {
		fence, heldFor, err := l.try(ctx, name, token, ttl)
		if err != nil {
			l.metrics.acquire.WithLabelValues("error").Inc()
			return nil, fmt.Errorf("acquiring lock %q: %w", name, err)
		}
		if fence > 0 {
			l.metrics.acquire.WithLabelValues("acquired").Inc()
			l.metrics.wait.Observe(time.Since(start).Seconds())
			return &Lease{l: l, name: name, token: token, fence: fence}, nil
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			l.metrics.acquire.WithLabelValues("timeout").Inc()
			return nil, &errdefs.Error{Kind: errdefs.KindConflict, Code: "lock-held",
				Detail:     "The lock is held by another owner; its lease ends in " + heldFor.Round(time.Millisecond).String() + ".",
				RetryAfter: max(heldFor, time.Second), Err: &TimeoutError{HeldFor: heldFor}}
		}
		sleep := min(bo.NextBackOff(), remaining)
		if heldFor > 0 && heldFor < sleep {
			sleep = heldFor // the lease expires sooner: try right then
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			l.metrics.acquire.WithLabelValues("canceled").Inc()
			return nil, fmt.Errorf("acquiring lock %q: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

// try makes one atomic attempt: the new fence on success, else 0 and how
// long the current holder's lease still runs.
func (l *Locker) try(ctx context.Context, name, token string, ttl time.Duration) (int64, time.Duration, error) {
	k := l.keys.of(name)
	res, err := acquireScript.Run(ctx, l.rc, []string{k.lease, k.fence}, token, ttl.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, 0, err
	}
	if res[0] == 1 {
		return res[1], 0, nil
	}
	return 0, time.Duration(max(res[1], 0)) * time.Millisecond, nil
}

// Extend sets the remaining time of the lease that token holds on name to
// ttl and returns its fence; ErrNotHeld when token does not hold it.
func (l *Locker) Extend(ctx context.Context, name, token string, ttl time.Duration) (int64, error) {
	if err := Validate(name, ttl); err != nil {
		return 0, err
	}
	k := l.keys.of(name)
	fence, err := extendScript.Run(ctx, l.rc, []string{k.lease}, token, ttl.Milliseconds()).Int64()
	if err != nil {
		l.metrics.extend.WithLabelValues("error").Inc()
		return 0, fmt.Errorf("extending lock %q: %w", name, err)
	}
	if fence < 0 {
		l.metrics.extend.WithLabelValues("not_held").Inc()
		return 0, ErrNotHeld
	}
	l.metrics.extend.WithLabelValues("extended").Inc()
	return fence, nil
}

// Release frees name if token holds it; ErrNotHeld otherwise (nothing
// changes then: another owner's lease is never deleted).
func (l *Locker) Release(ctx context.Context, name, token string) error {
	if err := validName(name); err != nil {
		return err
	}
	k := l.keys.of(name)
	n, err := releaseScript.Run(ctx, l.rc, []string{k.lease}, token).Int64()
	if err != nil {
		l.metrics.release.WithLabelValues("error").Inc()
		return fmt.Errorf("releasing lock %q: %w", name, err)
	}
	if n == 0 {
		l.metrics.release.WithLabelValues("not_held").Inc()
		return ErrNotHeld
	}
	l.metrics.release.WithLabelValues("released").Inc()
	return nil
}

// Status is what anyone may know about a lock, without its token.
type Status struct {
	Held  bool
	Fence int64         // fence of the current lease, when held
	TTL   time.Duration // remaining time of the current lease
}

// Inspect reports whether name is held, its fence and remaining time.
func (l *Locker) Inspect(ctx context.Context, name string) (Status, error) {
	if err := validName(name); err != nil {
		return Status{}, err
	}
	k := l.keys.of(name)
	res, err := inspectScript.Run(ctx, l.rc, []string{k.lease}).Int64Slice()
	if err != nil {
		return Status{}, fmt.Errorf("inspecting lock %q: %w", name, err)
	}
	if res[0] == 0 {
		return Status{}, nil
	}
	return Status{Held: true, Fence: res[1], TTL: time.Duration(res[2]) * time.Millisecond}, nil
}

// Validate checks a lock name and TTL against the bounds.
func Validate(name string, ttl time.Duration) error {
	if err := validName(name); err != nil {
		return err
	}
	if ttl < MinTTL || ttl > MaxTTL {
		return invalid("ttl", fmt.Sprintf("must be between %s and %s, got %s", MinTTL, MaxTTL, ttl))
	}
	return nil
}

func validName(name string) error {
	if msg := nameProblem(name); msg != "" {
		return invalid("name", msg)
	}
	return nil
}

// invalid is the ErrInvalid for one field.
func invalid(field, msg string) error { return errdefs.Invalid(field, msg).Because(ErrInvalid) }

// nameProblem describes what is wrong with a lock name, or "".
func nameProblem(name string) string {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Sprintf("must be 1-%d characters", MaxNameLen)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':' || c == '/') {
			return "may only contain letters, digits and - _ . : /"
		}
	}
	return ""
}

func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("making lock token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
