package redisx

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// deadlineHook gives every command and pipeline a deadline when its context
// has none, so no Redis call can wait forever. Blocking commands (XREADGROUP
// BLOCK, BLPOP) must carry their own, longer deadline.
type deadlineHook struct{ timeout time.Duration }

func (h deadlineHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h deadlineHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, h.timeout)
			defer cancel()
		}
		return next(ctx, cmd)
	}
}

func (h deadlineHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, h.timeout)
			defer cancel()
		}
		return next(ctx, cmds)
	}
}

// IsUnavailable reports whether err means Redis could not be reached in time
// (as opposed to a command error such as WRONGTYPE), so callers answer 503 or
// fall back instead of 500.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	s := err.Error()
	for _, m := range []string{"connection refused", "i/o timeout", "EOF", "broken pipe", "connection reset", "LOADING", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "no such host"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
