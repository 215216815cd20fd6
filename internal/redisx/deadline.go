package redisx

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// deadlineHook gives every command and pipeline a deadline when its context
// has none, so no Redis call can wait forever: the command timeout, or what
// is left of the context's Budget when that is less. Blocking commands
// (XREADGROUP BLOCK, BLPOP) must carry their own, longer deadline.
type deadlineHook struct{ timeout time.Duration }

func (h deadlineHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h deadlineHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return h.within(ctx, func(ctx context.Context) error { return next(ctx, cmd) })
	}
}

func (h deadlineHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		return h.within(ctx, func(ctx context.Context) error { return next(ctx, cmds) })
	}
}

func (h deadlineHook) within(ctx context.Context, do func(context.Context) error) error {
	if _, ok := ctx.Deadline(); ok {
		return do(ctx)
	}
	timeout := h.timeout
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	if b != nil {
		left := time.Duration(b.left.Load())
		if left <= 0 {
			return fmt.Errorf("redis budget of this request spent: %w", context.DeadlineExceeded)
		}
		timeout = min(timeout, left)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err := do(ctx)
	if b != nil {
		b.left.Add(-int64(time.Since(start)))
	}
	return err
}

// Budget bounds the total time one request spends waiting for Redis, over
// all its commands and go-redis's retries: each command gets at most what
// is left, and once it is spent the next command fails at once as a
// deadline (unavailable). Time spent elsewhere (hashing a password, the
// database) does not count. Safe for concurrent use.
type Budget struct{ left atomic.Int64 }

// NewBudget returns a budget of d.
func NewBudget(d time.Duration) *Budget {
	b := &Budget{}
	b.left.Store(int64(d))
	return b
}

type budgetKey struct{}

// WithBudget makes Redis commands run with ctx (and contexts derived from
// it) draw on b. A context with a deadline of its own is not limited.
func WithBudget(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(ctx, budgetKey{}, b)
}

// Bound is for callers that give each Redis call a deadline of their own
// (which the budget does not limit by itself): it returns ctx with a
// deadline of timeout, or of what is left of ctx's Budget when that is
// less, and a done func that cancels it and charges the time spent to the
// budget. With the budget spent, the context is already past its deadline.
func Bound(ctx context.Context, timeout time.Duration) (context.Context, func()) {
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	if b != nil {
		timeout = min(timeout, time.Duration(b.left.Load()))
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, max(timeout, 0))
	if b == nil {
		return cctx, cancel
	}
	return cctx, func() {
		cancel()
		b.left.Add(-int64(time.Since(start)))
	}
}
