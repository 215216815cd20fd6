package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/redlane/redlane/internal/errdefs"
)

// breaker keeps the cache from waiting on a Redis that is down: after
// breakerFailures consecutive timeouts or connection errors it opens, and
// for breakerOpenFor every cache call skips Redis at once (requests are
// served from the database); then one call probes Redis and, if it
// answers, caching resumes. It is rebuilt when its settings are reloaded.
//
// Hot path: while the breaker is closed and nothing failed lately, a call
// costs two atomic loads (no mutex, no allocation); gobreaker is consulted
// only to record failures, the first success after them, and while it is
// open or half-open.
type breaker struct {
	mu       sync.Mutex // serialises rebuilding
	cur      atomic.Pointer[breakerState]
	onChange func(to gobreaker.State)

	notClosed atomic.Bool // gobreaker is open or half-open
	dirty     atomic.Bool // failures were recorded since the last recorded success
}

type breakerState struct {
	failures int
	openFor  time.Duration
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
}

// record reports the outcome of a call made on the fast path.
func (b *breaker) record(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	failed := errdefs.IsUnavailable(err)
	if !failed && !b.dirty.Load() {
		return
	}
	st := b.cur.Load()
	if st == nil {
		return
	}
	if done, aerr := st.cb.Allow(); aerr == nil {
		done(err)
	}
	b.dirty.Store(failed)
}

type stateName = gobreaker.State

const stateOpen = gobreaker.StateOpen

func (b *breaker) get(failures int, openFor time.Duration) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	if st := b.cur.Load(); st != nil && st.failures == failures && st.openFor == openFor {
		return st.cb
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if st := b.cur.Load(); st != nil && st.failures == failures && st.openFor == openFor {
		return st.cb
	}
	cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "redis-cache",
		MaxRequests: 1,
		Timeout:     openFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(failures) },
		// Only "Redis is not there" counts; a command error (redis.Nil,
		// WRONGTYPE) means Redis answered.
		IsSuccessful: func(err error) bool { return !errdefs.IsUnavailable(err) },
		IsExcluded:   func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			b.notClosed.Store(to != gobreaker.StateClosed)
			if b.onChange != nil {
				b.onChange(to)
			}
		},
	})
	b.notClosed.Store(false)
	b.cur.Store(&breakerState{failures: failures, openFor: openFor, cb: cb})
	return cb
}

// state reports the breaker state for stats and metrics.
func (b *breaker) state() gobreaker.State {
	if st := b.cur.Load(); st != nil {
		return st.cb.State()
	}
	return gobreaker.StateClosed
}
