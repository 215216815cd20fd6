package cache

import (
	"context"
	"errors"
	"time"

	"github.com/redlane/redlane/internal/lock"
)

// warmLockName is the internal/lock name that makes a warm job run once
// across pods (its keys belong to the lock package: <prefix>lock:{cache-warm}).
const warmLockName = "cache-warm"

// Leaser hands out a named lease that one holder across all pods has at a
// time; warming uses it. lockLeaser is the implementation, on internal/lock.
type Leaser interface {
	// Acquire takes the lease without waiting; ok is false if someone holds it.
	Acquire(ctx context.Context, name string, ttl time.Duration) (l Lease, ok bool, err error)
}

// Lease is a held lease.
type Lease interface {
	// Renew extends the lease by ttl again; false means it was lost.
	Renew(ctx context.Context) (bool, error)
	Release(ctx context.Context) error
}

type lockLeaser struct{ l *lock.Locker }

type lockLease struct {
	le  *lock.Lease
	ttl time.Duration
}

func (ll lockLeaser) Acquire(ctx context.Context, name string, ttl time.Duration) (Lease, bool, error) {
	le, err := ll.l.Acquire(ctx, name, ttl, 0)
	if errors.Is(err, lock.ErrTimeout) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return &lockLease{le: le, ttl: ttl}, true, nil
}

func (l *lockLease) Renew(ctx context.Context) (bool, error) {
	err := l.le.Extend(ctx, l.ttl)
	if errors.Is(err, lock.ErrNotHeld) {
		return false, nil
	}
	return err == nil, err
}

func (l *lockLease) Release(ctx context.Context) error { return l.le.Release(ctx) }
