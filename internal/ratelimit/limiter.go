// Package ratelimit limits requests with GCRA (the generic cell rate
// algorithm) in one Lua script per decision, on Redis time, so any number of
// Redlane pods share one exact limit. It owns the policies' matching (from
// spec.rateLimits, reloaded live), the HTTP middleware with the IETF
// RateLimit-Policy / RateLimit headers, the fail-open/closed behaviour when
// Redis is down, and the decision metrics.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/redlane/redlane/internal/redisx"
)

// ErrUnavailable: no decision could be made (Redis unreachable, slow, or the
// breaker is open); the policy's failOpen says what to do.
var ErrUnavailable = errors.New("rate limiter unavailable")

// Rate is a GCRA rate: Limit requests per Period, with Burst more allowed
// at once on top of Limit.
type Rate struct {
	Limit  int
	Period time.Duration
	Burst  int
}

// interval is the emission interval: one request's worth of time.
func (r Rate) interval() time.Duration { return r.Period / time.Duration(r.Limit) }

// Decision is the outcome of one request against one rate.
type Decision struct {
	Allowed   bool
	Remaining int           // requests still allowed right now
	Refill    time.Duration // until one more request is allowed (denied: the retry-after)
	Full      time.Duration // until the whole capacity is back
}

// Options tune how fast a decision gives up on Redis.
type Options struct {
	// Timeout is the deadline of one decision's Redis round trip.
	Timeout time.Duration
	// TripAfter consecutive failures open the breaker: decisions then fail
	// at once, without touching Redis, for BreakerOpen.
	TripAfter   uint32
	BreakerOpen time.Duration
	// Logger hears when the breaker opens and closes (nil: slog.Default).
	Logger *slog.Logger
}

// DefaultOptions: 100ms per decision, breaker open for 2s after 5 failures.
func DefaultOptions() Options {
	return Options{Timeout: 100 * time.Millisecond, TripAfter: 5, BreakerOpen: 2 * time.Second}
}

// Limiter makes decisions on Redis. Safe for concurrent use.
type Limiter struct {
	rc      *redisx.Client
	opts    Options
	breaker *gobreaker.CircuitBreaker[Decision]
	metrics *metrics
}

// New returns a Limiter on rc; metrics go to reg (nil: unregistered).
func New(rc *redisx.Client, reg prometheus.Registerer, o Options) *Limiter {
	l := &Limiter{rc: rc, opts: o, metrics: newMetrics(reg)}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	l.breaker = gobreaker.NewCircuitBreaker[Decision](gobreaker.Settings{
		Name:        "ratelimit",
		MaxRequests: 1,
		Timeout:     o.BreakerOpen,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= o.TripAfter },
		IsExcluded:  func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			open := 0.0
			if to == gobreaker.StateOpen {
				open = 1
			}
			l.metrics.breakerOpen.Set(open)
			log.Warn("rate limiter circuit breaker "+to.String(), "from", from.String(),
				"meaning", "open: Redis is failing, policies decide by failOpen without asking it")
		},
	})
	return l
}

// Allow spends one request of rate for key (a Redis key from Key). It
// answers ErrUnavailable, quickly, when Redis cannot decide.
func (l *Limiter) Allow(ctx context.Context, key string, rate Rate) (Decision, error) {
	d, err := l.breaker.Execute(func() (Decision, error) {
		ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
		defer cancel()
		return l.gcra(ctx, key, rate)
	})
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return d, nil
}

func (l *Limiter) gcra(ctx context.Context, key string, rate Rate) (Decision, error) {
	interval := float64(rate.interval()) / float64(time.Microsecond)
	capacity := rate.Limit + rate.Burst
	res, err := gcraScript.Run(ctx, l.rc, []string{key}, strconv.FormatFloat(interval, 'f', 3, 64), capacity).Int64Slice()
	if err != nil {
		return Decision{}, err
	}
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("gcra script answered %v", res)
	}
	return Decision{
		Allowed:   res[0] == 1,
		Remaining: int(res[1]),
		Refill:    time.Duration(res[2]) * time.Microsecond,
		Full:      time.Duration(res[3]) * time.Microsecond,
	}, nil
}

// ceilSeconds rounds up to whole seconds, for headers.
func ceilSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}
