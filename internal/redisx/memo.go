package redisx

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Memo keeps the result of an expensive read (INFO of every node, a SCAN,
// per-queue stats) for a while and collapses concurrent refreshes into one
// call, so any number of callers — scrapes, stats requests — cost Redis at
// most one read per TTL.
type Memo[T any] struct {
	ttl     time.Duration
	timeout time.Duration
	fetch   func(context.Context) T

	mu sync.Mutex
	at time.Time
	v  T
	ok bool
	sf singleflight.Group
}

// NewMemo returns a Memo that calls fetch, with a deadline of timeout, when
// its value is older than ttl.
func NewMemo[T any](ttl, timeout time.Duration, fetch func(context.Context) T) *Memo[T] {
	return &Memo[T]{ttl: ttl, timeout: timeout, fetch: fetch}
}

// Get returns the value, fetched now if it is older than the TTL. The fetch
// is not cancelled when ctx is: callers waiting on it share its result.
func (m *Memo[T]) Get(ctx context.Context) T {
	m.mu.Lock()
	if m.ok && time.Since(m.at) < m.ttl {
		v := m.v
		m.mu.Unlock()
		return v
	}
	m.mu.Unlock()
	v, _, _ := m.sf.Do("", func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.timeout)
		defer cancel()
		v := m.fetch(ctx)
		m.mu.Lock()
		m.v, m.at, m.ok = v, time.Now(), true
		m.mu.Unlock()
		return v, nil
	})
	return v.(T)
}
