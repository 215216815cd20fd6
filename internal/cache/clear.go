package cache

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// scanCount is the COUNT hint of SCAN and so roughly the UNLINK batch size.
const scanCount = 500

// forEachMaster runs fn on every master: each shard of a Cluster, or the one server.
func (c *Cache) forEachMaster(ctx context.Context, fn func(context.Context, *redis.Client) error) error {
	switch cl := c.rc.UniversalClient.(type) {
	case *redis.ClusterClient:
		return cl.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, cl)
	}
	return fmt.Errorf("cache: unsupported redis client %T", c.rc.UniversalClient)
}

// ClearPattern deletes every cache key matching the logical pattern (e.g.
// "user:*"), scanning each master with SCAN and deleting in batches with
// UNLINK (freed in the background by Redis), then tells every pod to empty
// its near cache. The caller checks the pattern against the allowed
// prefixes. It returns how many keys were removed.
func (c *Cache) ClearPattern(ctx context.Context, pattern string) (int64, error) {
	match := c.k.pattern(pattern)
	var total atomic.Int64
	err := c.forEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, match, scanCount).Result()
			if err != nil {
				return fmt.Errorf("scanning %s: %w", node.Options().Addr, err)
			}
			if len(keys) > 0 {
				n, err := c.unlink(ctx, node, keys)
				total.Add(n)
				if err != nil {
					return fmt.Errorf("unlinking on %s: %w", node.Options().Addr, err)
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	})
	c.broadcastFlush(ctx)
	return total.Load(), err
}

// unlink deletes keys found on one node: one UNLINK on a standalone server;
// on a Cluster one UNLINK per key in a pipeline (a multi-key UNLINK must
// stay within one slot).
func (c *Cache) unlink(ctx context.Context, node *redis.Client, keys []string) (int64, error) {
	if !c.rc.IsCluster() {
		return node.Unlink(ctx, keys...).Result()
	}
	pipe := node.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Unlink(ctx, k)
	}
	_, err := pipe.Exec(ctx)
	var n int64
	for _, cmd := range cmds {
		n += cmd.Val()
	}
	return n, err
}

// ClearKeys deletes the given logical keys (with their leases) everywhere
// and returns how many entries existed.
func (c *Cache) ClearKeys(ctx context.Context, logicals []string) (int64, error) {
	pipe := c.rc.Pipeline()
	cmds := make([]*redis.IntCmd, len(logicals))
	for i, l := range logicals {
		cmds[i] = pipe.Del(ctx, c.k.entry(l))
		pipe.Del(ctx, c.k.lease(l))
	}
	pipe.Publish(ctx, c.k.invalidation(), strings.Join(logicals, "\n"))
	c.near.invalidate(logicals)
	_, err := pipe.Exec(ctx)
	c.near.invalidate(logicals)
	var n int64
	for _, cmd := range cmds {
		n += cmd.Val()
	}
	if err == nil {
		c.m.invSent.Add(float64(len(logicals)))
	}
	return n, err
}

// KeyCounts is the result of a key count.
type KeyCounts struct {
	Namespaces map[string]int64 `json:"namespaces"`
	Scanned    int64            `json:"scanned"`
	Partial    bool             `json:"partial"`
	CountedAt  time.Time        `json:"counted_at"`
	Error      string           `json:"error,omitempty"`
}

const maxScan = 1_000_000

// countKeys counts cache entries per namespace with SCAN over every
// master, at most once per 10 s however often /cache/stats is called (see
// Cache.keyCount), and stops after maxScan keys (the answer then says it is
// partial).
func (c *Cache) countKeys(ctx context.Context) KeyCounts { return c.keyCount.Get(ctx) }

func (c *Cache) scanKeys(ctx context.Context) KeyCounts {
	var mu sync.Mutex
	counts := map[string]int64{}
	var scanned atomic.Int64
	partial := false
	err := c.forEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		iter := node.Scan(ctx, 0, c.k.base()+"{*", 1000).Iterator()
		local := map[string]int64{}
		for iter.Next(ctx) {
			if scanned.Add(1) > maxScan {
				mu.Lock()
				partial = true
				mu.Unlock()
				break
			}
			k := iter.Val()
			if strings.HasSuffix(k, leaseSuffix) {
				continue
			}
			if l := c.k.logical(k); l != "" {
				local[namespaceOf(l)]++
			}
		}
		mu.Lock()
		for ns, n := range local {
			counts[ns] += n
		}
		mu.Unlock()
		return iter.Err()
	})
	out := KeyCounts{Namespaces: counts, Scanned: min(scanned.Load(), maxScan), Partial: partial, CountedAt: time.Now().UTC()}
	if err != nil {
		out.Error = err.Error()
		out.Partial = true
	}
	return out
}
