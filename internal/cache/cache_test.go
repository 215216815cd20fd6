package cache

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redistest"
	"github.com/redlane/redlane/internal/redisx"
)

// origin is a fake database that counts loads and can be changed.
type origin struct {
	mu    sync.Mutex
	data  map[string]string
	loads atomic.Int64
	delay time.Duration
}

func (o *origin) load(ctx context.Context, ids []string) (map[string][]byte, error) {
	o.loads.Add(1)
	time.Sleep(o.delay)
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string][]byte{}
	for _, id := range ids {
		if v, ok := o.data[id]; ok {
			out[id] = []byte(v)
		}
	}
	return out, nil
}

func (o *origin) set(id, v string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.data[id] = v
}

func newOrigin(n int) *origin {
	o := &origin{data: map[string]string{}}
	for i := 1; i <= n; i++ {
		o.data[strconv.Itoa(i)] = fmt.Sprintf(`{"id":%d}`, i)
	}
	return o
}

// newCache runs a cache on rc with mutate applied to the default config.
func newCache(t *testing.T, rc *redisx.Client, mutate func(*config.Cache)) *Cache {
	t.Helper()
	c := config.Default()
	if mutate != nil {
		mutate(&c.Spec.Cache)
	}
	if err := config.Validate(c); err != nil {
		t.Fatal(err)
	}
	cc := New(rc, config.NewStore(c, ""), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = cc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return cc
}

func TestMissThenHitAndStampede(t *testing.T) {
	for _, be := range redistest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			rc, rc2 := be.Open(t)
			c := newCache(t, rc, nil)
			o := newOrigin(10)
			o.delay = 50 * time.Millisecond
			ns := c.Namespace("user", o.load)
			ctx := context.Background()

			// 50 concurrent misses on one pod: one database load.
			var wg sync.WaitGroup
			statuses := make([]Status, 50)
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := c.Get(ctx, ns, "3")
					if err != nil || !r.Found || string(r.Body) != `{"id":3}` {
						t.Errorf("get: %+v %v", r, err)
					}
					statuses[i] = r.Status
				}()
			}
			wg.Wait()
			if n := o.loads.Load(); n != 1 {
				t.Fatalf("50 concurrent misses made %d loads, want 1", n)
			}
			r, err := c.Get(ctx, ns, "3")
			if err != nil || r.Status != Hit || r.ETag == "" {
				t.Fatalf("second read = %+v, %v; want a hit", r, err)
			}

			// Two pods (two engines, each with its own Redis client, like two
			// processes), 30 concurrent misses each on one id: exactly one
			// database load in all. The pod that lost the Redis lease waits
			// for the winner's entry: every one of its reads is collapsed.
			c2 := newCache(t, rc2, nil)
			ns2 := c2.Namespace("user", o.load)
			o.loads.Store(0)
			o.delay = 300 * time.Millisecond // every read starts before the load ends
			start := make(chan struct{})
			pods := [2][]Status{make([]Status, 30), make([]Status, 30)}
			for pod := range pods {
				for i := range pods[pod] {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						cc, n := c, ns
						if pod == 1 {
							cc, n = c2, ns2
						}
						r, err := cc.Get(ctx, n, "4")
						if err != nil || !r.Found {
							t.Errorf("get: %+v %v", r, err)
						}
						pods[pod][i] = r.Status
					}()
				}
			}
			close(start)
			wg.Wait()
			if n := o.loads.Load(); n != 1 {
				t.Fatalf("two pods, 60 concurrent misses: %d database loads, want exactly 1 (one Redis lease across pods)", n)
			}
			loser := -1
			for pod, sts := range pods {
				if !slices.Contains(sts, Miss) {
					loser = pod
				}
			}
			if loser < 0 {
				t.Fatalf("both pods loaded (statuses %v)", pods)
			}
			if !slices.Contains(pods[loser], Collapsed) || slices.ContainsFunc(pods[loser], func(st Status) bool { return st != Collapsed && st != Hit }) {
				t.Fatalf("the pod that lost the lease answered %v, want its reads collapsed on the winner's load (or hits of its entry)", pods[loser])
			}
		})
	}
}

func TestNegativeCachingAndInvalidation(t *testing.T) {
	for _, be := range redistest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			rc, _ := be.Open(t)
			c := newCache(t, rc, nil)
			o := newOrigin(2)
			ns := c.Namespace("user", o.load)
			ctx := context.Background()
			for i, want := range []Status{Miss, Hit} {
				r, err := c.Get(ctx, ns, "99")
				if err != nil || r.Found || r.Status != want {
					t.Fatalf("read %d of a missing record = %+v, %v; want %v, not found", i, r, err, want)
				}
			}
			ttl := rc.PTTL(ctx, c.k.entry("user:99")).Val()
			if ttl <= 0 || ttl > c.spec().NegativeTTL.Duration {
				t.Fatalf("negative entry ttl %v, want within negativeTTL", ttl)
			}
			o.set("99", `{"id":99}`)
			if err := c.Invalidate(ctx, "user:99"); err != nil {
				t.Fatal(err)
			}
			if r, _ := c.Get(ctx, ns, "99"); !r.Found || string(r.Body) != `{"id":99}` {
				t.Fatalf("after invalidation: %+v", r)
			}
		})
	}
}

// A load that read the database before a write must not store the old
// value after the write's invalidation.
func TestInvalidationVoidsInFlightLoad(t *testing.T) {
	c := newCache(t, redistest.Start(t).Redisx(t), nil)
	o := newOrigin(1)
	o.delay = 200 * time.Millisecond
	ns := c.Namespace("user", o.load)
	ctx := context.Background()
	got := make(chan Result, 1)
	go func() {
		r, _ := c.Get(ctx, ns, "1")
		got <- r
	}()
	time.Sleep(50 * time.Millisecond) // the load has read the old value and is sleeping
	o.set("1", `{"id":1,"v":2}`)
	if err := c.Invalidate(ctx, "user:1"); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r.Status != MissNotStored {
		t.Fatalf("in-flight load = %v, want MissNotStored", r.Status)
	}
	if r, _ := c.Get(ctx, ns, "1"); string(r.Body) != `{"id":1,"v":2}` {
		t.Fatalf("after the write: %s (%v), want the new value", r.Body, r.Status)
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	c := newCache(t, redistest.Start(t).Redisx(t), func(s *config.Cache) {
		s.TTLs = map[string]config.Duration{"user": config.D(200 * time.Millisecond)}
		s.JitterPercent = 0
		s.StaleTTL = config.D(time.Minute)
	})
	o := newOrigin(1)
	ns := c.Namespace("user", o.load)
	ctx := context.Background()
	if r, _ := c.Get(ctx, ns, "1"); r.Status != Miss {
		t.Fatalf("first read %v", r.Status)
	}
	o.set("1", `{"id":1,"v":2}`)
	time.Sleep(300 * time.Millisecond)
	r, _ := c.Get(ctx, ns, "1")
	if r.Status != Stale || string(r.Body) != `{"id":1}` {
		t.Fatalf("past freshness: %v %s, want the old value served stale", r.Status, r.Body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, _ := c.Get(ctx, ns, "1")
		if r.Status == Hit && string(r.Body) == `{"id":1,"v":2}` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no background refresh: %v %s", r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGetManyOneRoundTripOneQuery(t *testing.T) {
	for _, be := range redistest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			rc, _ := be.Open(t)
			c := newCache(t, rc, nil)
			o := newOrigin(50)
			ns := c.Namespace("user", o.load)
			ctx := context.Background()
			for _, id := range []string{"1", "2", "3"} {
				if _, err := c.Get(ctx, ns, id); err != nil {
					t.Fatal(err)
				}
			}
			o.loads.Store(0)
			ids := []string{"1", "2", "3", "4", "5", "6", "7", "999"}
			res, err := c.GetMany(ctx, ns, ids)
			if err != nil {
				t.Fatal(err)
			}
			if n := o.loads.Load(); n != 1 {
				t.Fatalf("batch with 5 misses made %d loads, want 1", n)
			}
			for i, r := range res {
				wantHit := i < 3
				if (r.Status == Hit) != wantHit || r.Found == (ids[i] == "999") {
					t.Errorf("id %s: %+v", ids[i], r)
				}
			}
			res, _ = c.GetMany(ctx, ns, ids)
			for i, r := range res {
				if r.Status != Hit {
					t.Errorf("second batch, id %s: %v, want hit", ids[i], r.Status)
				}
			}
			// every key written has a TTL
			n, err := c.ClearPattern(ctx, "user:*")
			if err != nil || n != 8 {
				t.Fatalf("ClearPattern = %d, %v; want 8 entries deleted", n, err)
			}
			if k, _ := rc.Exists(ctx, c.k.entry("user:1")).Result(); k != 0 {
				t.Fatal("entry survived clear")
			}
		})
	}
}

// breakerCache runs a cache on rc whose breaker opens for openFor after
// two failed commands of at most 100ms, with user 1 already cached.
func breakerCache(t *testing.T, rc *redisx.Client, openFor time.Duration) (*Cache, *Namespace) {
	t.Helper()
	c := newCache(t, rc, func(s *config.Cache) {
		s.BreakerFailures = 2
		s.BreakerOpenFor = config.D(openFor)
		s.RedisTimeout = config.D(100 * time.Millisecond)
	})
	ns := c.Namespace("user", newOrigin(5).load)
	if _, err := c.Get(context.Background(), ns, "1"); err != nil {
		t.Fatal(err)
	}
	return c, ns
}

// bypassReads reads user 1 n times, requiring each to come from the origin
// with Redis skipped (Bypass), and returns how long the reads took.
func bypassReads(t *testing.T, c *Cache, ns *Namespace, n int, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for i := 0; i < n; i++ {
		r, err := c.Get(context.Background(), ns, "1")
		if err != nil || !r.Found || r.Status != Bypass {
			t.Fatalf("%s, read %d = %+v, %v; want bypass from the origin", what, i, r, err)
		}
	}
	return time.Since(start)
}

func TestRedisDownFallsBackAndRecovers(t *testing.T) {
	rs := redistest.Start(t)
	c, ns := breakerCache(t, rs.Redisx(t), 300*time.Millisecond)
	ctx := context.Background()
	rs.Stop()
	if d := bypassReads(t, c, ns, 20, "Redis down"); d > 5*time.Second {
		t.Fatalf("20 reads with Redis down took %v", d)
	}
	if c.RedisAvailable() {
		t.Fatal("breaker still closed")
	}
	rs.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := c.Get(ctx, ns, "1")
		if r.Status == Hit {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("caching did not resume: %v", r.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNearCacheInvalidatedAcrossPods(t *testing.T) {
	for _, be := range redistest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			rcA, rcB := be.Open(t)
			near := func(s *config.Cache) {
				s.Near.Enabled = true
				s.Near.TTL = config.D(time.Minute) // only invalidation can drop it in time
			}
			a := newCache(t, rcA, near)
			b := newCache(t, rcB, near)
			o := newOrigin(3)
			nsA, nsB := a.Namespace("user", o.load), b.Namespace("user", o.load)
			ctx := context.Background()
			waitFor(t, func() bool { return a.near.live.Load() && b.near.live.Load() }) // both subscribed
			b.Get(ctx, nsB, "2")
			if r, _ := b.Get(ctx, nsB, "2"); r.Status != NearHit {
				t.Fatalf("second read on b: %v, want a near hit", r.Status)
			}
			o.set("2", `{"id":2,"v":2}`)
			if err := a.Invalidate(ctx, "user:2"); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				r, _ := b.Get(ctx, nsB, "2")
				if string(r.Body) == `{"id":2,"v":2}` {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("b still serves %s (%v) after a's write", r.Body, r.Status)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if r, _ := a.Get(ctx, nsA, "2"); string(r.Body) != `{"id":2,"v":2}` {
				t.Fatalf("a serves %s", r.Body)
			}
		})
	}
}

func TestEntryRoundTripAndETag(t *testing.T) {
	e := newEntry([]byte(`{"a":1}`), true, time.Minute, 3*time.Millisecond)
	e.gen = 7
	d, err := decodeEntry(e.encode())
	if err != nil || !d.found || string(d.body) != `{"a":1}` || d.gen != 7 || d.delta != 3*time.Millisecond ||
		d.freshUntil.UnixMilli() != e.freshUntil.UnixMilli() || d.etag() != e.etag() || len(e.etag()) != 18 {
		t.Fatalf("round trip: %+v %v", d, err)
	}
	if ETag(e.body) != e.etag() {
		t.Fatalf("ETag(body) = %s, entry etag %s", ETag(e.body), e.etag())
	}
	if _, err := decodeEntry([]byte("junk")); err == nil {
		t.Fatal("junk decoded")
	}
	for _, tc := range []struct {
		header string
		match  bool
	}{
		{e.etag(), true}, {`W/` + e.etag(), true}, {`"x", ` + e.etag(), true}, {"*", true}, {`"x"`, false}, {"", false},
	} {
		if ETagMatch(tc.header, e.etag()) != tc.match {
			t.Errorf("ETagMatch(%q) != %v", tc.header, tc.match)
		}
	}
}

func TestKeys(t *testing.T) {
	k := keys{prefix: "rl:"}
	if got := k.entry("user:1"); got != "rl:cache:{user:1}" {
		t.Fatal(got)
	}
	if got := k.logical(k.lease("user:1")); got != "user:1" {
		t.Fatal(got)
	}
	if got := k.pattern("user:*"); got != "rl:cache:{user:*}*" {
		t.Fatal(got)
	}
}

// A Redis that accepts connections but never answers (SIGSTOP) must cost a
// read at most redisTimeout, and then nothing while the breaker is open.
func TestFrozenRedisTimesOut(t *testing.T) {
	rc := redistest.Start(t).Redisx(t)
	c, ns := breakerCache(t, rc, time.Minute)
	info, err := rc.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(redisx.ParseInfo(info)["process_id"])
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	// Two reads time out (100ms each, plus the lease attempt), the rest skip Redis.
	if d := bypassReads(t, c, ns, 10, "frozen Redis"); d > 3*time.Second {
		t.Fatalf("10 reads against a frozen Redis took %v", d)
	}
}

// TestNearCacheNeverStaleWhileDeaf: pod b's invalidation subscription goes
// through a proxy. Cut (connections reset, reconnection refused): from the
// moment b notices, it serves nothing from its near cache, so a write on
// pod a that b never hears is not served stale, before or after b
// reconnects. Stalled (a black hole: the connection stays open and carries
// nothing): b stops answering from memory once its keepalive PING goes
// unanswered (listenDeadAfter), well within the near cache's own TTL.
func TestNearCacheNeverStaleWhileDeaf(t *testing.T) {
	for _, fault := range []string{"cut", "stall"} {
		t.Run(fault, func(t *testing.T) {
			rs := redistest.Start(t)
			proxy := redistest.NewProxy(t, rs.Addr())
			near := func(s *config.Cache) {
				s.Near.Enabled = true
				s.Near.TTL = config.D(10 * time.Minute) // only invalidation can drop it in time
			}
			a := newCache(t, rs.Redisx(t), near)
			b := newCache(t, proxy.Redisx(t), near)
			o := newOrigin(3)
			nsA, nsB := a.Namespace("user", o.load), b.Namespace("user", o.load)
			ctx := context.Background()
			waitFor(t, func() bool { return b.near.live.Load() })
			b.Get(ctx, nsB, "2")
			if r, _ := b.Get(ctx, nsB, "2"); r.Status != NearHit {
				t.Fatalf("second read on b: %v, want a near hit", r.Status)
			}
			if fault == "cut" {
				proxy.Cut()
			} else {
				proxy.Stall()
			}
			waitFor(t, func() bool { return !b.near.live.Load() }) // b noticed
			if fault == "stall" {
				proxy.Cut() // now the write below must not reach b either way
			}
			o.set("2", `{"id":2,"v":2}`)
			if err := a.Invalidate(ctx, "user:2"); err != nil {
				t.Fatal(err)
			}
			if r, _ := a.Get(ctx, nsA, "2"); string(r.Body) != `{"id":2,"v":2}` {
				t.Fatalf("a serves %s", r.Body)
			}
			check := func(when string) {
				for i := 0; i < 20; i++ {
					if r, _ := b.Get(ctx, nsB, "2"); string(r.Body) != `{"id":2,"v":2}` {
						t.Fatalf("%s: b serves %s (%v) after a's write", when, r.Body, r.Status)
					}
				}
			}
			check("while b cannot hear")
			proxy.Restore()
			waitFor(t, func() bool { return b.near.live.Load() })
			check("after b reconnected")
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClearFlushesOtherPodsNearCaches: a pattern clear on pod a empties the
// near cache of pod b too, so b serves what the database holds now.
func TestClearFlushesOtherPodsNearCaches(t *testing.T) {
	rs := redistest.Start(t)
	near := func(s *config.Cache) {
		s.Near.Enabled = true
		s.Near.TTL = config.D(10 * time.Minute)
	}
	a := newCache(t, rs.Redisx(t), near)
	b := newCache(t, rs.Redisx(t), near)
	o := newOrigin(3)
	nsB := b.Namespace("user", o.load)
	a.Namespace("user", o.load)
	ctx := context.Background()
	waitFor(t, func() bool { return b.near.live.Load() })
	b.Get(ctx, nsB, "1")
	if r, _ := b.Get(ctx, nsB, "1"); r.Status != NearHit {
		t.Fatalf("second read on b: %v, want a near hit", r.Status)
	}
	o.set("1", `{"id":1,"v":2}`) // changed behind the cache's back, then cleared
	if _, err := a.ClearPattern(ctx, "user:*"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		r, _ := b.Get(ctx, nsB, "1")
		return string(r.Body) == `{"id":1,"v":2}`
	})
}
