package cache

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Leaser hands out a named lease that one holder across all pods has at a
// time. Cache warming uses it to run once across pods.
//
// This is a minimal Redis lease (SET NX PX, token-checked renew and release
// in Lua). It sits behind this small interface so it can be replaced by the
// project's distributed-lock package (internal/lock) when that lands.
type Leaser interface {
	Acquire(ctx context.Context, key string, ttl time.Duration) (Lease, bool, error)
}

// Lease is a held lease.
type Lease interface {
	// Renew extends the lease by its ttl; false means it was lost.
	Renew(ctx context.Context) (bool, error)
	Release(ctx context.Context) error
}

type redisLeaser struct{ rc redis.UniversalClient }

type redisLease struct {
	rc    redis.UniversalClient
	key   string
	token string
	ttl   time.Duration
}

func (l redisLeaser) Acquire(ctx context.Context, key string, ttl time.Duration) (Lease, bool, error) {
	tok := token()
	ok, err := l.rc.SetNX(ctx, key, tok, ttl).Result()
	if err != nil || !ok {
		return nil, false, err
	}
	return &redisLease{rc: l.rc, key: key, token: tok, ttl: ttl}, true, nil
}

func (l *redisLease) Renew(ctx context.Context) (bool, error) {
	n, err := renewScript.Run(ctx, l.rc, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
	return n == 1, err
}

func (l *redisLease) Release(ctx context.Context) error {
	return releaseScript.Run(ctx, l.rc, []string{l.key}, l.token).Err()
}
