package cache

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redisx"
)

// Status says how a read was served; it becomes Cache-Status and X-Cache.
type Status uint8

// The ways a read can be served.
const (
	Hit           Status = iota // fresh entry from Redis
	NearHit                     // fresh entry from this pod's memory
	Stale                       // stale entry, served while one caller refreshes it
	Miss                        // loaded from the database and stored
	MissNotStored               // loaded from the database; not stored (a write or another pod intervened)
	Collapsed                   // waited for another caller's load of the same key
	Bypass                      // Redis unavailable or skipped: loaded from the database
)

// Result is one cached record as served.
type Result struct {
	Found    bool   // false: the record does not exist (a cached 404)
	Body     []byte // exact bytes to serve; nil when !Found
	ETag     string
	Status   Status
	StaleFor time.Duration // how far past freshness a Stale entry is
	etagHdr  []string      // ETag as a header value, kept with near-cache entries
}

// ETagHeader is ETag as a header value; near hits reuse the one kept with
// the entry, so serving them allocates nothing.
func (r *Result) ETagHeader() []string {
	if r.etagHdr != nil {
		return r.etagHdr
	}
	return []string{r.ETag}
}

type fillResult struct {
	e  entry
	st Status
}

// Get returns record id of ns, from the near cache, Redis or the database.
// Errors are the database's (Redis trouble falls back to the database).
func (c *Cache) Get(ctx context.Context, ns *Namespace, id string) (Result, error) {
	s := c.spec()
	now := time.Now()
	pending := c.pending.has(ns.name, id)
	if s.Near.Enabled && !pending {
		if ne, ok := c.near.get(s.Near.Size, nearKey{ns.name, id}, now); ok {
			ns.stats.add(cHits)
			ns.stats.add(cNearHits)
			return Result{Found: ne.e.found, Body: ne.e.body, ETag: ne.etag[0], etagHdr: ne.etag, Status: NearHit}, nil
		}
	}
	logical := ns.name + ":" + id
	if pending {
		return c.direct(ctx, ns, id, logical)
	}
	done, ok := c.allow()
	if !ok {
		return c.direct(ctx, ns, id, logical)
	}
	key := c.k.entry(logical)
	var tk ticket
	if s.Near.Enabled {
		tk = c.near.begin(key)
	}
	raw, err := c.rc.Get(c.fastCtx(ctx, now), key).Bytes()
	if c.afterRead != nil {
		c.afterRead(logical)
	}
	switch {
	case errors.Is(err, redis.Nil):
		done(nil)
	case err != nil:
		done(err)
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		return c.direct(ctx, ns, id, logical)
	default:
		done(nil)
		if e, err := decodeEntry(raw); err == nil {
			if now.Before(e.freshUntil) {
				if s.XFetchBeta > 0 && e.delta > 0 && xfetch(now, e, s.XFetchBeta) {
					c.refreshAsync(ns, id, logical)
				}
				ns.stats.add(cHits)
				res := Result{Found: e.found, Body: e.body, ETag: e.etag(), Status: Hit}
				if s.Near.Enabled {
					res.etagHdr = []string{res.ETag}
					c.near.put(s.Near.Size, nearKey{ns.name, id}, e, res.etagHdr, s.Near.TTL.Duration, tk)
				}
				return res, nil
			}
			c.refreshAsync(ns, id, logical)
			ns.stats.add(cStale)
			return Result{Found: e.found, Body: e.body, ETag: e.etag(), Status: Stale, StaleFor: now.Sub(e.freshUntil)}, nil
		}
		// A malformed entry is a miss; the fill overwrites it.
	}

	ns.stats.add(cMisses)
	leader := false
	fctx := redisx.WithBudget(ctx, redisx.NewBudget(s.RedisTimeout.Duration-time.Since(now)))
	v, err, _ := c.sf.Do(logical, func() (any, error) {
		leader = true
		return c.fill(context.WithoutCancel(fctx), ns, id, logical, tk)
	})
	if err != nil {
		return Result{}, err
	}
	fr := v.(fillResult)
	st := fr.st
	if !leader {
		ns.stats.add(cCollapsed)
		st = Collapsed
	}
	if fr.st == Bypass {
		ns.stats.add(cErrors)
	}
	return Result{Found: fr.e.found, Body: fr.e.body, ETag: fr.e.etag(), Status: st}, nil
}

// xfetch decides a probabilistic early refresh (Vattani et al., "Optimal
// Probabilistic Cache Stampede Prevention"): refresh when
// now - delta*beta*ln(rand) >= expiry, more likely the closer expiry is and
// the longer the load takes.
func xfetch(now time.Time, e entry, beta float64) bool {
	gap := time.Duration(float64(e.delta) * beta * -math.Log(rand.Float64()))
	return !now.Add(gap).Before(e.freshUntil)
}

// direct serves from the database without Redis (breaker open, Redis
// failing, or a pending invalidation), still one load per key per pod.
func (c *Cache) direct(ctx context.Context, ns *Namespace, id, logical string) (Result, error) {
	ns.stats.add(cErrors)
	v, err, _ := c.sf.Do("direct:"+logical, func() (any, error) {
		return c.load(context.WithoutCancel(ctx), ns, id)
	})
	if err != nil {
		return Result{}, err
	}
	e := v.(entry)
	return Result{Found: e.found, Body: e.body, ETag: e.etag(), Status: Bypass}, nil
}

// fill loads a missing entry: the caller that wins the Redis lease loads it
// from the database and stores it; callers on other pods wait for that
// entry instead of loading too, and load themselves only if it does not
// appear within the lease.
func (c *Cache) fill(ctx context.Context, ns *Namespace, id, logical string, tk ticket) (fillResult, error) {
	s := c.spec()
	done, ok := c.allow()
	if !ok {
		e, err := c.load(ctx, ns, id)
		return fillResult{e, Bypass}, err
	}
	tok := c.leaseToken(ctx)
	rctx, cancel := c.redisCtx(ctx)
	reply, err := leaseScript.Run(rctx, c.rc, []string{c.k.entry(logical), c.k.lease(logical)}, tok, s.LeaseTTL.Duration.Milliseconds()).Slice()
	cancel()
	done(err)
	if err != nil || len(reply) == 0 {
		e, err := c.load(ctx, ns, id)
		return fillResult{e, Bypass}, err
	}
	switch code, _ := reply[0].(int64); {
	case code == 1 && len(reply) == 2:
		// Stored by another caller between our GET and now.
		if raw, ok := reply[1].(string); ok {
			if e, err := decodeEntry([]byte(raw)); err == nil {
				return fillResult{e, Collapsed}, nil
			}
		}
	case code == 2:
		e, err := c.load(ctx, ns, id)
		if err != nil {
			c.release(ctx, logical, tok)
			return fillResult{}, err
		}
		if !c.store(ctx, logical, tok, e) {
			return fillResult{e, MissNotStored}, nil
		}
		if s.Near.Enabled {
			c.near.put(s.Near.Size, nearKey{ns.name, id}, e, []string{e.etag()}, s.Near.TTL.Duration, tk)
		}
		return fillResult{e, Miss}, nil
	}
	var holder any
	if len(reply) == 2 {
		holder = reply[1]
	}
	if e, ok := c.await(ctx, logical, s.LeaseTTL.Duration, holder); ok {
		return fillResult{e, Collapsed}, nil
	}
	e, err := c.load(ctx, ns, id)
	return fillResult{e, MissNotStored}, err
}

// await polls for the entry another caller is loading, until it appears,
// the lease disappears without it, or wait passes. holder is the lease's
// value as the lease script saw it (nil if unknown).
func (c *Cache) await(ctx context.Context, logical string, wait time.Duration, holder any) (got entry, ok bool) {
	ctx, span := c.startLeaseWait(ctx, logical)
	defer func() { endLeaseWait(span, ok) }()
	linked := false
	linkLeaseHolder(span, &linked, holder)
	deadline := time.Now().Add(wait)
	pause := 5 * time.Millisecond
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return entry{}, false
		case <-time.After(pause):
		}
		pause = min(pause*2, 50*time.Millisecond)
		done, ok := c.allow()
		if !ok {
			return entry{}, false
		}
		rctx, cancel := c.redisCtx(ctx)
		vals, err := c.rc.MGet(rctx, c.k.entry(logical), c.k.lease(logical)).Result()
		cancel()
		done(err)
		if err != nil || len(vals) != 2 {
			return entry{}, false
		}
		if s, ok := vals[0].(string); ok {
			if e, err := decodeEntry([]byte(s)); err == nil {
				return e, true
			}
		}
		if vals[1] == nil {
			return entry{}, false // the loader gave up or a write cancelled it
		}
		linkLeaseHolder(span, &linked, vals[1])
	}
	return entry{}, false
}

// load reads one record from the database and makes it an entry.
func (c *Cache) load(ctx context.Context, ns *Namespace, id string) (entry, error) {
	es, err := c.loadEntries(ctx, ns, []string{id})
	if err != nil {
		return entry{}, err
	}
	return es[0], nil
}

// loadEntries reads records ids from the database in one query and makes
// each an entry, in the order of ids: found, fresh for the namespace TTL
// plus jitter; or negative, for negativeTTL.
func (c *Cache) loadEntries(ctx context.Context, ns *Namespace, ids []string) ([]entry, error) {
	start := time.Now()
	m, err := ns.load(ctx, ids)
	d := time.Since(start)
	c.m.observeLoad(ns.name, d)
	ns.stats.add(cLoads)
	if err != nil {
		ns.stats.add(cLoadErrors)
		return nil, err
	}
	s := c.spec()
	out := make([]entry, len(ids))
	for i, id := range ids {
		if body, ok := m[id]; ok {
			out[i] = newEntry(body, true, ttlFor(s, ns.name), d)
		} else {
			out[i] = newEntry(nil, false, s.NegativeTTL.Duration, d)
		}
	}
	return out, nil
}

// redisTTL is how long Redis keeps e: its freshness plus the stale window
// (negative entries get no stale window). Never zero: always expires.
func redisTTL(s *config.Cache, e entry) time.Duration {
	d := time.Until(e.freshUntil)
	if e.found {
		d += s.StaleTTL.Duration
	}
	return max(d, time.Millisecond)
}

// store writes e if tok still holds the lease; it reports whether it did.
func (c *Cache) store(ctx context.Context, logical, tok string, e entry) bool {
	s := c.spec()
	done, ok := c.allow()
	if !ok {
		return false
	}
	rctx, cancel := c.redisCtx(ctx)
	defer cancel()
	n, err := fillScript.Run(rctx, c.rc, []string{c.k.entry(logical), c.k.lease(logical)},
		tok, e.encode(), redisTTL(s, e).Milliseconds()).Int()
	done(err)
	return err == nil && n == 1
}

// release gives a lease back early (after a failed load).
func (c *Cache) release(ctx context.Context, logical, tok string) {
	rctx, cancel := c.redisCtx(ctx)
	defer cancel()
	_ = releaseScript.Run(rctx, c.rc, []string{c.k.lease(logical)}, tok).Err()
}

// refreshAsync reloads a stale (or soon stale) entry in the background;
// the lease makes one caller across all pods do it.
func (c *Cache) refreshAsync(ns *Namespace, id, logical string) {
	c.bg.spawn(func(ctx context.Context) {
		_, _, _ = c.sf.Do("refresh:"+logical, func() (any, error) {
			s := c.spec()
			done, ok := c.allow()
			if !ok {
				return nil, nil
			}
			tok := token()
			rctx, cancel := c.redisCtx(ctx)
			got, err := c.rc.SetNX(rctx, c.k.lease(logical), tok, s.LeaseTTL.Duration).Result()
			cancel()
			done(err)
			if err != nil || !got {
				return nil, nil
			}
			e, err := c.load(ctx, ns, id)
			if err != nil {
				c.release(ctx, logical, tok)
				return nil, nil
			}
			c.store(ctx, logical, tok, e)
			return nil, nil
		})
	})
}
