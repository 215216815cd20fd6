package redistest

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/redisx"
)

// Commands counts the Redis commands a client sends on behalf of chosen
// work: only those whose context was marked with Mark, so background work
// on the same client (stats flushes, keepalives) is not counted. A
// pipeline counts each of its commands.
type Commands struct{ n atomic.Int64 }

type markKey struct{}

// CountCommands installs a counting hook on rc.
func CountCommands(rc *redisx.Client) *Commands {
	c := &Commands{}
	rc.AddHook(countHook{c})
	return c
}

// Mark returns ctx whose Redis commands are counted.
func (c *Commands) Mark(ctx context.Context) context.Context {
	return context.WithValue(ctx, markKey{}, c)
}

// N is how many marked commands were sent so far.
func (c *Commands) N() int64 { return c.n.Load() }

type countHook struct{ c *Commands }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if ctx.Value(markKey{}) == h.c {
			h.c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if ctx.Value(markKey{}) == h.c {
			h.c.n.Add(int64(len(cmds)))
		}
		return next(ctx, cmds)
	}
}
