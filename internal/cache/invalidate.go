package cache

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/redisx"
)

// Invalidate removes logical keys ("user:7") from Redis and from the near
// cache of every pod. Each key is deleted with its lease in one DEL (same
// slot), which also voids any load in flight for it. When Redis cannot be
// reached the keys are remembered: this pod bypasses the cache for them and
// retries the deletion until it succeeds.
func (c *Cache) Invalidate(ctx context.Context, logicals ...string) error {
	if len(logicals) == 0 {
		return nil
	}
	c.near.invalidate(logicals)
	err := c.invalidateRedis(ctx, logicals)
	// A reader that fetched the old value just before the DEL may have put it
	// in the near cache after the first invalidate; drop it again, and void
	// such reads still in flight.
	c.near.changed(logicals)
	c.near.invalidate(logicals)
	if err != nil {
		c.pending.add(logicals)
		c.log.Warn("cache invalidation failed; bypassing and retrying", "keys", len(logicals), "error", err.Error())
		return err
	}
	return nil
}

func (c *Cache) invalidateRedis(ctx context.Context, logicals []string) error {
	ctx, cancel := context.WithTimeout(ctx, max(c.spec().RedisTimeout.Duration, time.Second))
	defer cancel()
	pipe := c.rc.Pipeline()
	for _, l := range logicals {
		pipe.Del(ctx, c.k.entry(l), c.k.lease(l))
	}
	pipe.Publish(ctx, c.k.invalidation(), strings.Join(logicals, "\n"))
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	c.m.invSent.Add(float64(len(logicals)))
	return nil
}

// broadcastFlush tells every pod to empty its near cache (after a clear).
func (c *Cache) broadcastFlush(ctx context.Context) {
	c.near.invalidate([]string{"*"})
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := c.rc.Publish(ctx, c.k.invalidation(), "*").Err(); err == nil {
		c.m.invSent.Inc()
	}
}

// listen applies invalidations published by any pod to this pod's near
// cache, on one subscription at a time: when it fails (a read error, or no
// answer to a PING within listenDeadAfter) the near cache is emptied and
// bypassed, the subscription is closed and a new one made; its
// confirmation puts the near cache back in use (near.setLive).
func (c *Cache) listen(ctx context.Context) {
	pause := 50 * time.Millisecond
	for ctx.Err() == nil {
		if c.listenOnce(ctx) {
			pause = 50 * time.Millisecond
		}
		c.near.setLive(false)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(pause*2, 2*time.Second)
	}
}

const (
	listenPingEvery = 500 * time.Millisecond
	listenDeadAfter = 1500 * time.Millisecond // without any message or PONG
)

// listenOnce runs one subscription until it fails or ctx ends; it reports
// whether the subscription was confirmed.
func (c *Cache) listenOnce(ctx context.Context) bool {
	ps := c.rc.Subscribe(ctx, c.k.invalidation())
	ka := redisx.StartKeepalive(ctx, ps, listenPingEvery, listenDeadAfter, func() {
		c.log.Warn("cache: invalidation subscription stopped answering; near cache off until it is back")
	})
	defer func() { ka.Stop(); _ = ps.Close() }()
	confirmed := false
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			return confirmed
		}
		ka.Heard()
		switch m := msg.(type) {
		case *redis.Subscription:
			confirmed = true
			c.near.setLive(true)
		case *redis.Message:
			keys := strings.Split(m.Payload, "\n")
			c.near.invalidate(keys)
			c.m.invReceived.Add(float64(len(keys)))
		}
	}
}

// pendingSet holds keys whose invalidation has not reached Redis yet.
type pendingSet struct {
	n  atomic.Int64
	mu sync.Mutex
	m  map[string]struct{}
}

// has reports whether record id of namespace ns is pending; while nothing
// is, it costs one atomic load (the key is built only when needed).
func (p *pendingSet) has(ns, id string) bool {
	if p.n.Load() == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.m[ns+":"+id]
	return ok
}

func (p *pendingSet) add(keys []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]struct{}{}
	}
	for _, k := range keys {
		p.m[k] = struct{}{}
	}
	p.n.Store(int64(len(p.m)))
}

func (p *pendingSet) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.m))
	for k := range p.m {
		out = append(out, k)
	}
	return out
}

func (p *pendingSet) done(keys []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range keys {
		delete(p.m, k)
	}
	p.n.Store(int64(len(p.m)))
}

// retryPending retries failed invalidations every half second.
func (c *Cache) retryPending(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.pending.n.Load() == 0 {
			continue
		}
		keys := c.pending.take()
		if err := c.invalidateRedis(ctx, keys); err != nil {
			if !errors.Is(err, context.Canceled) {
				c.log.Debug("cache invalidation retry failed", "keys", len(keys), "error", err.Error())
			}
			continue
		}
		c.near.invalidate(keys)
		c.pending.done(keys)
		c.log.Info("pending cache invalidations applied", "keys", len(keys))
	}
}
