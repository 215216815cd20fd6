package cache

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// GetMany returns the records ids of ns in order, in one Redis round trip
// (MGET; on a Cluster one pipeline, which go-redis splits per node and
// sends to the nodes in parallel) and at most one database query, for the
// misses. Misses whose lease this call wins are stored; the others are
// served but not stored (another caller is storing them).
func (c *Cache) GetMany(ctx context.Context, ns *Namespace, ids []string) ([]Result, error) {
	s := c.spec()
	res := make([]Result, len(ids))
	now := time.Now()
	var need []int
	for i, id := range ids {
		if c.pending.has(ns.name, id) {
			res[i].Status = Bypass
			continue
		}
		if s.Near.Enabled {
			if ne, ok := c.near.get(s.Near.Size, nearKey{ns.name, id}, now); ok {
				ns.stats.add(cHits)
				ns.stats.add(cNearHits)
				res[i] = Result{Found: ne.e.found, Body: ne.e.body, ETag: ne.etag[0], etagHdr: ne.etag, Status: NearHit}
				continue
			}
		}
		need = append(need, i)
	}

	var miss []int
	redisOK := false
	tks := make([]ticket, len(ids)) // taken before the read, for the near cache
	if len(need) > 0 {
		if done, ok := c.allow(); ok {
			keys := make([]string, len(need))
			for j, i := range need {
				keys[j] = c.k.entry(ns.name + ":" + ids[i])
				if s.Near.Enabled {
					tks[i] = c.near.begin(keys[j])
				}
			}
			vals, err := c.mget(ctx, keys)
			done(err)
			if err == nil {
				redisOK = true
				for j, i := range need {
					e, err := decodeEntry(vals[j])
					if vals[j] == nil || err != nil {
						miss = append(miss, i)
						continue
					}
					if now.Before(e.freshUntil) {
						ns.stats.add(cHits)
						res[i] = Result{Found: e.found, Body: e.body, ETag: e.etag(), Status: Hit}
						if s.Near.Enabled {
							res[i].etagHdr = []string{res[i].ETag}
							c.near.put(s.Near.Size, nearKey{ns.name, ids[i]}, e, res[i].etagHdr, s.Near.TTL.Duration, tks[i])
						}
						continue
					}
					ns.stats.add(cStale)
					c.refreshAsync(ns, ids[i], ns.name+":"+ids[i])
					res[i] = Result{Found: e.found, Body: e.body, ETag: e.etag(), Status: Stale, StaleFor: now.Sub(e.freshUntil)}
				}
			}
		}
		if !redisOK {
			for _, i := range need {
				res[i].Status = Bypass
			}
		}
	}
	for i := range res {
		if res[i].Status == Bypass {
			miss = append(miss, i)
		}
	}
	if len(miss) == 0 {
		return res, nil
	}
	return res, c.loadMany(ctx, ns, ids, miss, res, redisOK, tks)
}

// loadMany loads res[miss] from the database in one query and stores those
// whose lease it wins.
func (c *Cache) loadMany(ctx context.Context, ns *Namespace, ids []string, miss []int, res []Result, redisOK bool, tks []ticket) error {
	s := c.spec()
	toks := map[int]string{}
	if redisOK {
		if done, ok := c.allow(); ok {
			rctx, cancel := c.redisCtx(ctx)
			pipe := c.rc.Pipeline()
			cmds := make([]*redis.BoolCmd, len(miss))
			for j, i := range miss {
				cmds[j] = pipe.SetNX(rctx, c.k.lease(ns.name+":"+ids[i]), c.leaseToken(ctx), s.LeaseTTL.Duration)
			}
			_, err := pipe.Exec(rctx)
			cancel()
			done(err)
			for j, i := range miss {
				if cmds[j].Err() == nil && cmds[j].Val() {
					toks[i] = cmds[j].Args()[2].(string)
				}
			}
		}
	}
	missIDs := make([]string, len(miss))
	for j, i := range miss {
		missIDs[j] = ids[i]
		if res[i].Status == Bypass {
			ns.stats.add(cErrors)
		} else {
			ns.stats.add(cMisses)
		}
	}
	loaded, err := c.loadEntries(ctx, ns, missIDs)
	if err != nil {
		for i, tok := range toks {
			c.release(ctx, ns.name+":"+ids[i], tok)
		}
		return err
	}
	entries := make(map[int]entry, len(miss))
	for j, i := range miss {
		e := loaded[j]
		entries[i] = e
		st := res[i].Status
		if st != Bypass {
			st = MissNotStored
		}
		res[i] = Result{Found: e.found, Body: e.body, ETag: e.etag(), Status: st}
	}
	if len(toks) == 0 {
		return nil
	}
	done, ok := c.allow()
	if !ok {
		return nil
	}
	rctx, cancel := c.redisCtx(ctx)
	defer cancel()
	order := make([]int, 0, len(toks))
	cmds, err := execScripts(rctx, c.rc.UniversalClient, func(p redis.Pipeliner) []*redis.Cmd {
		order = order[:0]
		var out []*redis.Cmd
		for i, tok := range toks {
			l := ns.name + ":" + ids[i]
			e := entries[i]
			order = append(order, i)
			out = append(out, fillScript.EvalSha(rctx, p, []string{c.k.entry(l), c.k.lease(l)}, tok, e.encode(), redisTTL(s, e).Milliseconds()))
		}
		return out
	})
	done(err)
	for j, cmd := range cmds {
		if n, err := cmd.Int(); err == nil && n == 1 {
			i := order[j]
			res[i].Status = Miss
			if s.Near.Enabled {
				c.near.put(s.Near.Size, nearKey{ns.name, ids[i]}, entries[i], []string{res[i].ETag}, s.Near.TTL.Duration, tks[i])
			}
		}
	}
	return nil
}

// mget reads keys in one round trip: MGET, or on a Cluster a pipeline of
// GETs (keys of different slots cannot share an MGET there).
func (c *Cache) mget(ctx context.Context, keys []string) ([][]byte, error) {
	rctx, cancel := c.redisCtx(ctx)
	defer cancel()
	out := make([][]byte, len(keys))
	if !c.rc.IsCluster() {
		vals, err := c.rc.MGet(rctx, keys...).Result()
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			if s, ok := v.(string); ok {
				out[i] = []byte(s)
			}
		}
		return out, nil
	}
	pipe := c.rc.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Get(rctx, k)
	}
	if _, err := pipe.Exec(rctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	for i, cmd := range cmds {
		if b, err := cmd.Bytes(); err == nil {
			out[i] = b
		}
	}
	return out, nil
}
