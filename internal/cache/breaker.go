package cache

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/redlane/redlane/internal/redisx"
)

// breaker keeps the cache from waiting on a Redis that is down: after
// breakerFailures consecutive timeouts or connection errors it opens, and
// for breakerOpenFor every cache call skips Redis at once (requests are
// served from the database); then one call probes Redis and, if it
// answers, caching resumes. It is rebuilt when its settings are reloaded.
type breaker struct {
	mu       sync.Mutex
	failures int
	openFor  time.Duration
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	onChange func(to gobreaker.State)
}

type stateName = gobreaker.State

const stateOpen = gobreaker.StateOpen

func (b *breaker) get(failures int, openFor time.Duration) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cb == nil || b.failures != failures || b.openFor != openFor {
		b.failures, b.openFor = failures, openFor
		b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        "redis-cache",
			MaxRequests: 1,
			Timeout:     openFor,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(failures) },
			// Only "Redis is not there" counts; a command error (redis.Nil,
			// WRONGTYPE) means Redis answered.
			IsSuccessful: func(err error) bool { return !redisx.IsUnavailable(err) },
			IsExcluded:   func(err error) bool { return errors.Is(err, context.Canceled) },
			OnStateChange: func(_ string, _, to gobreaker.State) {
				if b.onChange != nil {
					b.onChange(to)
				}
			},
		})
	}
	return b.cb
}

// state reports the breaker state for stats and metrics.
func (b *breaker) state() gobreaker.State {
	b.mu.Lock()
	cb := b.cb
	b.mu.Unlock()
	if cb == nil {
		return gobreaker.StateClosed
	}
	return cb.State()
}
