// Package cache is Redlane's cache-aside engine: it serves records of any
// namespace from Redis as the exact bytes to send, loading misses through
// the namespace's LoadFunc; what a namespace holds is its owner's business
// (internal/users caches the users database).
//
// Around each read: TTL plus jitter, per-pod singleflight and a cross-pod
// Redis lease against stampedes, stale-while-revalidate, probabilistic
// early refresh (XFetch), negative caching, an optional near cache
// invalidated over pub/sub, and a circuit breaker that serves from the
// origin when Redis is down. Besides: a response-caching middleware, and
// statistics, clearing, warming and TTL inspection with their operator
// endpoints under /cache. It owns every Redis key under <prefix>cache: (see
// keys.go).
package cache

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/lock"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/tracking"
)

// LoadFunc loads records by id from the origin (the database) in one
// query. Ids that do not exist are absent from the result; the values are
// the exact bytes to serve.
type LoadFunc func(ctx context.Context, ids []string) (map[string][]byte, error)

// Namespace is one kind of cached record, e.g. "user".
type Namespace struct {
	name  string
	load  LoadFunc
	stats *counters
}

// Cache is the engine. It is safe for concurrent use; Run drives its
// background work (invalidation listener, stats flush, invalidation retries).
type Cache struct {
	rc     *redisx.Client
	tracer trace.Tracer // lease-wait spans (tracing.go); nil: tracing is off
	cfg    *config.Store
	log    *slog.Logger
	info   *redisx.InfoCache
	k      keys
	sf     singleflight.Group
	brk    breaker
	near   near
	stats  *statsSet
	m      *metrics

	pending  pendingSet
	record   func(error) // c.brk.record, made once (a method value allocates)
	bg       background
	keyCount *redisx.Memo[KeyCounts] // countKeys, at most once per 10 s
	warm     *warmer
	// afterRead, in tests, runs between a Redis read and the near-cache
	// install of what it returned (to inject a delay there).
	afterRead func(logical string)
}

// Options are what New needs besides Redis and the config.
type Options struct {
	Logger   *slog.Logger
	Info     *redisx.InfoCache // shared INFO cache (redisx), for /cache/stats
	Registry prometheus.Registerer
	// Locks runs warm jobs once across pods; nil makes a Locker on rc.
	Locks *lock.Locker
	// Tracker, when set, keeps the near cache coherent through Redis
	// tracking (every entry key); New registers with it, so it must not
	// be running yet. Nil: invalidation over pub/sub and near.ttl only.
	Tracker *tracking.Tracker
}

// New builds the engine. Call Run to start its background work.
func New(rc *redisx.Client, cfg *config.Store, o Options) *Cache {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Info == nil {
		o.Info = redisx.NewInfoCache(rc, 5*time.Second)
	}
	c := &Cache{rc: rc, cfg: cfg, log: o.Logger, info: o.Info, k: keys{prefix: rc.Prefix}, stats: newStatsSet()}
	c.bg.init()
	c.record = c.brk.record
	c.near.k = c.k
	if o.Tracker != nil {
		c.near.tr = o.Tracker
		o.Tracker.Track(c.k.base()+"{", &c.near)
		o.Tracker.CountHits("cache", c.stats.nearHits)
	}
	c.m = newMetrics(c)
	if o.Registry != nil {
		o.Registry.MustRegister(c.m)
	}
	c.brk.onChange = func(to stateName) {
		c.log.Warn("cache: redis circuit breaker changed state", "state", to.String())
	}
	if o.Locks == nil {
		o.Locks = lock.New(rc, nil, nil)
	}
	c.warm = newWarmer(c, o.Locks)
	c.keyCount = redisx.NewMemo(10*time.Second, 10*time.Second, c.scanKeys)
	return c
}

// Namespace registers a record kind and its loader.
func (c *Cache) Namespace(name string, load LoadFunc) *Namespace {
	return &Namespace{name: name, load: load, stats: c.stats.ns(name)}
}

// Run listens for invalidations, flushes stats and retries failed
// invalidations until ctx ends, then waits for background refreshes.
func (c *Cache) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, fn := range []func(context.Context){c.listen, c.runStatsFlusher, c.retryPending} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(ctx)
		}()
	}
	<-ctx.Done()
	c.bg.stop()
	wg.Wait()
	return nil
}

// Close stops background work started by requests (Run does this too).
func (c *Cache) Close() { c.bg.stop() }

// spec is the cache config in effect (hot reloadable).
func (c *Cache) spec() *config.Cache { return &c.cfg.Current().Spec.Cache }

// ttl is the freshness lifetime of an entry of ns, with jitter added.
func ttlFor(s *config.Cache, ns string) time.Duration {
	d := s.DefaultTTL.Duration
	if t, ok := s.TTLs[ns]; ok && t.Duration > 0 {
		d = t.Duration
	}
	if s.JitterPercent > 0 {
		d += time.Duration(rand.Int64N(int64(d)*int64(s.JitterPercent)/100 + 1))
	}
	return max(d, time.Millisecond)
}

// redisCtx bounds one cache command by spec.cache.redisTimeout, and by
// what is left of the read's Redis budget when Get gave it one: all the
// Redis calls of one read (the GET, then the lease, the fill or the wait
// for another pod's fill) together wait at most redisTimeout, so a paused
// Redis delays a read by one timeout before it is served from the
// database, not by one per call. Time in the database does not count.
func (c *Cache) redisCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	rctx, done := redisx.Bound(ctx, c.spec().RedisTimeout.Duration)
	return rctx, context.CancelFunc(done)
}

// socketDeadline is the hit path's cheaper redisCtx: a context that reports
// a deadline redisTimeout away without arming a timer. go-redis turns a
// context deadline into the socket read/write deadline, so a Redis that
// does not answer still fails the command in time (an i/o timeout, which
// the breaker counts), and cancellation still comes from the parent. Only
// for single go-redis commands; a timer per request was 4% of a hit's CPU.
type socketDeadline struct {
	context.Context
	at time.Time
}

func (d socketDeadline) Deadline() (time.Time, bool) { return d.at, true }

func (c *Cache) fastCtx(ctx context.Context, now time.Time) context.Context {
	return socketDeadline{ctx, now.Add(c.spec().RedisTimeout.Duration)}
}

// allow asks the breaker whether Redis may be called; done reports the outcome.
func (c *Cache) allow() (done func(error), ok bool) {
	s := c.spec()
	cb := c.brk.get(s.BreakerFailures, s.BreakerOpenFor.Duration)
	if !c.brk.notClosed.Load() {
		return c.record, true
	}
	d, err := cb.Allow()
	if err != nil {
		return nil, false
	}
	return d, true
}

// RedisAvailable reports whether the breaker lets cache calls through.
func (c *Cache) RedisAvailable() bool { return c.brk.state() != stateOpen }

func token() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// background owns goroutines started by requests (refreshes): they get a
// context that Run's end cancels, and stop waits for them. A semaphore
// bounds how many run at once; past it refreshes are skipped.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}
	mu     sync.Mutex
	closed atomic.Bool
}

func (b *background) init() {
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.sem = make(chan struct{}, 32)
}

// spawn runs fn in the background unless stopped or too busy.
func (b *background) spawn(fn func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return false
	}
	select {
	case b.sem <- struct{}{}:
	default:
		return false
	}
	b.wg.Add(1)
	go func() {
		defer func() { <-b.sem; b.wg.Done() }()
		fn(b.ctx)
	}()
	return true
}

// run runs fn in the background regardless of the semaphore (long jobs
// such as warming), unless stopped.
func (b *background) run(fn func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn(b.ctx)
	}()
	return true
}

func (b *background) stop() {
	b.mu.Lock()
	b.closed.Store(true)
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}
