// Package httpapi builds Redlane's HTTP server: the router with every route
// (routes.go), the cross-cutting middleware, health and readiness, metrics and
// the admin endpoints. Domain packages own their handlers; this package mounts them.
package httpapi

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Probes holds the readiness checks and the draining flag that SIGTERM sets
// first, so load balancers stop sending traffic before the listener closes.
type Probes struct {
	timeout  time.Duration
	redis    func(context.Context) error // GET /health's check
	draining atomic.Bool
	mu       sync.Mutex
	checks   []readinessCheck
}

type readinessCheck struct {
	name string
	fn   func(context.Context) error
}

// NewProbes returns probes whose checks each get timeout; redis is the
// check GET /health reports as its "redis" field.
func NewProbes(timeout time.Duration, redis func(context.Context) error) *Probes {
	return &Probes{timeout: timeout, redis: redis}
}

// AddReadiness registers a check that must pass for /readyz to answer 200.
func (p *Probes) AddReadiness(name string, fn func(context.Context) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checks = append(p.checks, readinessCheck{name, fn})
}

// SetDraining makes /readyz fail from now on.
func (p *Probes) SetDraining() { p.draining.Store(true) }

// Draining reports whether shutdown has begun.
func (p *Probes) Draining() bool { return p.draining.Load() }

// Ready runs every check concurrently and returns each one's result ("ok"
// or the error).
func (p *Probes) Ready(ctx context.Context) (bool, map[string]string) {
	p.mu.Lock()
	checks := append([]readinessCheck{}, p.checks...)
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	results := make(map[string]string, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok := !p.Draining()
	for _, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := "ok"
			if err := c.fn(ctx); err != nil {
				res = err.Error()
			}
			mu.Lock()
			defer mu.Unlock()
			results[c.name] = res
			if res != "ok" {
				ok = false
			}
		}()
	}
	wg.Wait()
	return ok, results
}
