package cache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/web"
)

// HandleStats is GET /cache/stats: this pod's counters, all pods' totals,
// keys per namespace, the near cache, and Redis memory and keyspace figures
// from the shared INFO cache.
func (c *Cache) HandleStats() http.Handler {
	type nearStats struct {
		Enabled  bool   `json:"enabled"`
		Entries  int    `json:"entries"`
		Capacity int    `json:"capacity"`
		TTL      string `json:"ttl"`
		// Tracking: live (coherent through Redis tracking), down (bypassed
		// until it is back), unsupported (pub/sub and ttl) or off.
		Tracking string `json:"tracking"`
	}
	type answer struct {
		Pod                  Scope      `json:"pod"`
		AllPods              *Scope     `json:"all_pods"`
		AllPodsError         string     `json:"all_pods_error,omitempty"`
		Keys                 KeyCounts  `json:"keys"`
		Near                 nearStats  `json:"near_cache"`
		Redis                RedisStats `json:"redis"`
		Breaker              string     `json:"redis_breaker"`
		PendingInvalidations int64      `json:"pending_invalidations"`
	}
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		s := c.spec()
		a := answer{
			Pod:                  scopeOf(c.stats.all()),
			Near:                 nearStats{Enabled: s.Near.Enabled, Entries: c.near.len(), Capacity: s.Near.Size, TTL: s.Near.TTL.String(), Tracking: c.near.trackingState()},
			Breaker:              c.brk.state().String(),
			PendingInvalidations: c.pending.n.Load(),
		}
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if all, err := c.allPods(ctx); err != nil {
			a.AllPodsError = "Redis unavailable: " + err.Error()
		} else {
			a.AllPods = &all
		}
		a.Keys = c.countKeys(ctx)
		a.Redis = c.redisStats(ctx)
		w.Header().Set("Cache-Control", "no-store")
		return web.Encode(w, http.StatusOK, a)
	})
}

// RedisStats sums INFO over every node (one node unless Cluster).
type RedisStats struct {
	Nodes          int      `json:"nodes"`
	UsedMemory     int64    `json:"used_memory_bytes"`
	MaxMemory      int64    `json:"maxmemory_bytes"`
	MemoryUsedPct  *float64 `json:"memory_used_percent"`
	EvictedKeys    int64    `json:"evicted_keys"`
	ExpiredKeys    int64    `json:"expired_keys"`
	KeyspaceHits   int64    `json:"keyspace_hits"`
	KeyspaceMisses int64    `json:"keyspace_misses"`
	KeyspaceHitPct *float64 `json:"keyspace_hit_percent"`
	Errors         []string `json:"errors,omitempty"`
}

func (c *Cache) redisStats(ctx context.Context) RedisStats {
	var rs RedisStats
	for _, n := range c.info.Nodes(ctx) {
		if n.Err != nil {
			rs.Errors = append(rs.Errors, n.Node+": "+n.Err.Error())
			continue
		}
		rs.Nodes++
		get := func(f string) int64 { v, _ := n.Float(f); return int64(v) }
		rs.UsedMemory += get("used_memory")
		rs.MaxMemory += get("maxmemory")
		rs.EvictedKeys += get("evicted_keys")
		rs.ExpiredKeys += get("expired_keys")
		rs.KeyspaceHits += get("keyspace_hits")
		rs.KeyspaceMisses += get("keyspace_misses")
	}
	if rs.MaxMemory > 0 {
		p := 100 * float64(rs.UsedMemory) / float64(rs.MaxMemory)
		rs.MemoryUsedPct = &p
	}
	if t := rs.KeyspaceHits + rs.KeyspaceMisses; t > 0 {
		p := 100 * float64(rs.KeyspaceHits) / float64(t)
		rs.KeyspaceHitPct = &p
	}
	return rs
}

// clearRequest is the body of POST /cache/clear: exactly one of the two.
type clearRequest struct {
	Pattern *string  `json:"pattern"`
	Keys    []string `json:"keys"`
}

func (q clearRequest) Valid() map[string]string {
	if (q.Pattern == nil) == (q.Keys == nil) {
		return map[string]string{"pattern": `send exactly one of "pattern" (e.g. "user:*") or "keys" (e.g. ["user:1"])`}
	}
	if q.Keys != nil && (len(q.Keys) == 0 || len(q.Keys) > 1000) {
		return map[string]string{"keys": "must list 1-1000 keys"}
	}
	return nil
}

// checkKey validates a logical key or pattern against the clearable prefixes.
func (c *Cache) checkKey(field, k string, pattern bool) error {
	if k == "" || len(k) > 512 || strings.ContainsAny(k, "{}\n\r\t \x00") || !utf8.ValidString(k) {
		return web.BadRequest(field, "must be a non-empty key of valid UTF-8 without braces, whitespace or NUL, at most 512 bytes")
	}
	lit := k
	if pattern {
		if i := strings.IndexAny(k, `*?[\`); i >= 0 {
			lit = k[:i]
		}
	} else if strings.ContainsAny(k, `*?[\`) {
		return web.BadRequest(field, fmt.Sprintf("%q contains glob characters; use \"pattern\" for patterns", truncate(k, 40)))
	}
	prefixes := c.spec().ClearablePrefixes
	for _, p := range prefixes {
		if strings.HasPrefix(lit, p) {
			return nil
		}
	}
	return web.BadRequest(field, fmt.Sprintf("%q is outside the clearable prefixes %s; a pattern must start with one of them literally (a bare * is never allowed)",
		truncate(k, 40), strings.Join(prefixes, ", ")))
}

// HandleClear is POST /cache/clear (admin): {"pattern":"user:*"} deletes by
// SCAN + UNLINK on every master; {"keys":["user:1"]} deletes those keys.
func (c *Cache) HandleClear() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := web.Decode[clearRequest](r)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
		defer cancel()
		start := time.Now()
		if in.Pattern != nil {
			if err := c.checkKey("pattern", *in.Pattern, true); err != nil {
				return err
			}
			n, err := c.ClearPattern(ctx, *in.Pattern)
			if err != nil {
				return errdefs.Unavailable("Redis", err)
			}
			c.log.Info("cache cleared", "pattern", *in.Pattern, "deleted", n)
			return web.Encode(w, http.StatusOK, map[string]any{"pattern": *in.Pattern, "deleted": n, "took_ms": time.Since(start).Milliseconds()})
		}
		for i, k := range in.Keys {
			if err := c.checkKey(fmt.Sprintf("keys[%d]", i), k, false); err != nil {
				return err
			}
		}
		n, err := c.ClearKeys(ctx, in.Keys)
		if err != nil {
			return errdefs.Unavailable("Redis", err)
		}
		c.log.Info("cache keys cleared", "keys", len(in.Keys), "deleted", n)
		return web.Encode(w, http.StatusOK, map[string]any{"keys": in.Keys, "deleted": n, "took_ms": time.Since(start).Milliseconds()})
	})
}

// HandleKeyTTL is GET /cache/keys/{key}/ttl: remaining lifetime in Redis and
// freshness of one entry (key such as user:1).
func (c *Cache) HandleKeyTTL() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		key := web.Var(r, "key")
		if err := c.checkKey("key", key, false); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		pipe := c.rc.Pipeline()
		pttl := pipe.PTTL(ctx, c.k.entry(key))
		get := pipe.Get(ctx, c.k.entry(key))
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return errdefs.Unavailable("Redis", err)
		}
		ttl := pttl.Val()
		if ttl == -2 || errors.Is(get.Err(), redis.Nil) { // PTTL -2: no such key
			return errdefs.NotFound("No cache entry %q.", key)
		}
		out := map[string]any{"key": key, "exists": true, "ttl_ms": ttl.Milliseconds(), "ttl": ttl.Round(time.Millisecond).String()}
		if ttl < 0 {
			out["ttl"], out["ttl_ms"] = "none", -1 // would be a bug: every entry is written with a TTL
		}
		if e, err := decodeEntry([]byte(get.Val())); err == nil {
			fresh := time.Until(e.freshUntil)
			out["fresh_ms"] = max(fresh.Milliseconds(), 0)
			out["stale"] = fresh <= 0
			out["negative"] = !e.found
		}
		w.Header().Set("Cache-Control", "no-store")
		return web.Encode(w, http.StatusOK, out)
	})
}

// HandleWarmStatus is GET /cache/warm: the last warm job's progress (any pod's).
func (c *Cache) HandleWarmStatus() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		return web.Encode(w, http.StatusOK, c.WarmStatus(r.Context()))
	})
}

// truncate shortens s to n bytes for quoting caller input in an answer.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
