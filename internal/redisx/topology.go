package redisx

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/errdefs"
)

// topologyHook makes the Cluster client reload its slot map as soon as a
// command fails because a node could not be reached. go-redis reloads it
// only on MOVED, ASK or READONLY replies, or every
// ClusterStateReloadInterval (60 s by default): after a master dies, it
// would keep dialling the dead address for up to that minute, although a
// replica was promoted seconds after the failure. ReloadState is cheap to
// call often: go-redis runs one reload at a time, then waits 200 ms before
// honouring the next request, so a burst of failures costs a handful of
// CLUSTER SLOTS, each answered by whichever node is reachable.
type topologyHook struct{ cc *redis.ClusterClient }

func (h topologyHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h topologyHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.check(err)
		return err
	}
}

func (h topologyHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.check(err)
		return err
	}
}

func (h topologyHook) check(err error) {
	if err != nil && !errors.Is(err, context.Canceled) && errdefs.IsUnavailable(err) {
		h.cc.ReloadState(context.Background())
	}
}

// RefreshTopology asks a Cluster client to reload its slot map now (a
// no-op elsewhere): for callers that learn of a failure outside a command,
// such as a pub/sub connection that dropped.
func (c *Client) RefreshTopology(ctx context.Context) {
	if cc, ok := c.UniversalClient.(*redis.ClusterClient); ok {
		cc.ReloadState(ctx)
	}
}
