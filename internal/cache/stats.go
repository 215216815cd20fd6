package cache

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// counter indexes the per-namespace counters.
type counter int

const (
	cHits       counter = iota // served from the cache (near or Redis), fresh
	cNearHits                  // of those, served from the near cache
	cStale                     // served stale while one caller refreshed
	cMisses                    // not in the cache: loaded from the database
	cErrors                    // Redis failed or was skipped: served from the database
	cCollapsed                 // a miss that waited for another caller's load instead of loading
	cLoads                     // database loads
	cLoadErrors                // database loads that failed
	numCounters
)

var counterNames = [numCounters]string{"hits", "near_hits", "stale", "misses", "errors", "collapsed", "loads", "load_errors"}

// counters are one namespace's local counts: plain atomics on the hot path,
// exported to Prometheus and flushed to Redis in the background.
type counters [numCounters]atomic.Int64

func (c *counters) add(k counter) { c[k].Add(1) }

func (c *counters) snapshot() (s [numCounters]int64) {
	for i := range c {
		s[i] = c[i].Load()
	}
	return s
}

// statsSet holds the counters of every namespace seen by this pod, and
// what was last flushed to the all-pods totals.
type statsSet struct {
	mu      sync.RWMutex
	m       map[string]*counters
	flushed map[string][numCounters]int64
}

func newStatsSet() *statsSet {
	return &statsSet{m: map[string]*counters{}, flushed: map[string][numCounters]int64{}}
}

func (s *statsSet) ns(name string) *counters {
	s.mu.RLock()
	c := s.m[name]
	s.mu.RUnlock()
	if c != nil {
		return c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c = s.m[name]; c == nil {
		c = &counters{}
		s.m[name] = c
	}
	return c
}

func (s *statsSet) all() map[string][numCounters]int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string][numCounters]int64, len(s.m))
	for k, c := range s.m {
		out[k] = c.snapshot()
	}
	return out
}

// nearHits is this pod's near-cache hits over every namespace.
func (s *statsSet) nearHits() uint64 {
	var n int64
	for _, v := range s.all() {
		n += v[cNearHits]
	}
	return uint64(n)
}

// unflushed is what this pod counted since its last successful flush.
func (s *statsSet) unflushed() map[string][numCounters]int64 { return s.unflushedFrom(s.all()) }

// flush adds this pod's new counts to the all-pods HASH in one pipeline.
func (c *Cache) flushStats(ctx context.Context) error {
	cur := c.stats.all()
	delta := c.stats.unflushedFrom(cur)
	pipe := c.rc.Pipeline()
	n := 0
	for ns, v := range delta {
		for i, d := range v {
			if d != 0 {
				pipe.HIncrBy(ctx, c.k.stats(), ns+"."+counterNames[i], d)
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	pipe.PExpire(ctx, c.k.stats(), 30*24*time.Hour)
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	c.stats.mu.Lock()
	for ns, v := range cur {
		c.stats.flushed[ns] = v
	}
	c.stats.mu.Unlock()
	return nil
}

func (s *statsSet) unflushedFrom(cur map[string][numCounters]int64) map[string][numCounters]int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string][numCounters]int64, len(cur))
	for ns, v := range cur {
		f := s.flushed[ns]
		for i := range v {
			v[i] -= f[i]
		}
		out[ns] = v
	}
	return out
}

// runStatsFlusher flushes every statsFlushInterval until ctx ends, and once
// more on the way out.
func (c *Cache) runStatsFlusher(ctx context.Context) {
	for {
		d := c.cfg.Current().Spec.Cache.StatsFlushInterval.Duration
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = c.flushStats(fctx)
			cancel()
			return
		case <-time.After(d):
		}
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := c.flushStats(fctx); err != nil {
			c.log.Debug("cache stats flush failed; will retry", "error", err.Error())
		}
		cancel()
	}
}

// CounterSummary is one namespace's (or all namespaces') counts.
type CounterSummary struct {
	Hits       int64   `json:"hits"`
	NearHits   int64   `json:"near_hits"`
	Stale      int64   `json:"stale"`
	Misses     int64   `json:"misses"`
	Errors     int64   `json:"errors"`
	Collapsed  int64   `json:"collapsed"`
	Loads      int64   `json:"loads"`
	LoadErrors int64   `json:"load_errors"`
	HitRate    float64 `json:"hit_rate"`
}

func summarize(v [numCounters]int64) CounterSummary {
	s := CounterSummary{Hits: v[cHits], NearHits: v[cNearHits], Stale: v[cStale], Misses: v[cMisses], Errors: v[cErrors],
		Collapsed: v[cCollapsed], Loads: v[cLoads], LoadErrors: v[cLoadErrors]}
	if total := s.Hits + s.Stale + s.Misses + s.Errors; total > 0 {
		s.HitRate = float64(s.Hits+s.Stale) / float64(total)
	}
	return s
}

// Scope is the counters of one pod or of all pods.
type Scope struct {
	Total      CounterSummary            `json:"total"`
	Namespaces map[string]CounterSummary `json:"namespaces"`
}

func scopeOf(m map[string][numCounters]int64) Scope {
	var total [numCounters]int64
	sc := Scope{Namespaces: map[string]CounterSummary{}}
	for ns, v := range m {
		sc.Namespaces[ns] = summarize(v)
		for i := range v {
			total[i] += v[i]
		}
	}
	sc.Total = summarize(total)
	return sc
}

// allPods reads the all-pods totals (one HGETALL) and adds this pod's
// counts not flushed yet, so the answer includes this pod's latest requests.
func (c *Cache) allPods(ctx context.Context) (Scope, error) {
	fields, err := c.rc.HGetAll(ctx, c.k.stats()).Result()
	if err != nil {
		return Scope{}, err
	}
	m := c.stats.unflushed()
	for f, v := range fields {
		ns, name, ok := strings.Cut(f, ".")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			continue
		}
		for i, cn := range counterNames {
			if cn == name {
				a := m[ns]
				a[i] += n
				m[ns] = a
			}
		}
	}
	return scopeOf(m), nil
}
