package cache

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redistest"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/tracking"
)

// newTrackedCache runs a cache with a near cache kept coherent by a
// tracker of its own (one pod), near.ttl far longer than any test: only
// tracking can drop an entry in time.
func newTrackedCache(t *testing.T, rc *redisx.Client) *Cache {
	t.Helper()
	c := config.Default()
	c.Spec.Cache.Near.Enabled = true
	c.Spec.Cache.Near.TTL = config.D(10 * time.Minute)
	if err := config.Validate(c); err != nil {
		t.Fatal(err)
	}
	tr := tracking.New(rc, tracking.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	cc := New(rc, config.NewStore(c, ""), Options{Tracker: tr})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = cc.Run(ctx); done <- struct{}{} }()
	go func() { _ = tr.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	waitFor(t, tr.Live)
	return cc
}

// readUntil polls c until it serves want, and returns how long that took.
func readUntil(t *testing.T, c *Cache, ns *Namespace, id, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r, err := c.Get(context.Background(), ns, id)
		if err == nil && string(r.Body) == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("still serving %s (%v) after %s, want %s", r.Body, r.Status, within, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// twoTrackedPods runs pods a and b on one server; b's namespace "user"
// (a has one too) loads from o.
func twoTrackedPods(t *testing.T) (*redistest.Server, *Cache, *Cache, *Namespace, *origin) {
	rs := redistest.Start(t)
	a, b := newTrackedCache(t, rs.Redisx(t)), newTrackedCache(t, rs.Redisx(t))
	o := newOrigin(3)
	a.Namespace("user", o.load)
	return rs, a, b, b.Namespace("user", o.load), o
}

// untilNear reads id until a read is a near hit. With tracking, a value
// this pod just wrote to Redis (a fill) is not installed: Redis reports
// the write to every pod, this one included, and the report may land
// after the read; the next Redis hit installs it.
func untilNear(t *testing.T, c *Cache, ns *Namespace, id string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if r, _ := c.Get(context.Background(), ns, id); r.Status == NearHit {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no near hit of %s within 2s", id)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTrackedNearCacheCoherentAcrossPods: with near.ttl at 10 minutes, a
// change of an entry in Redis made by anyone — the other pod's
// Invalidate, or a bare DEL that publishes nothing — reaches this pod's
// near cache within milliseconds, on standalone and on a Cluster.
func TestTrackedNearCacheCoherentAcrossPods(t *testing.T) {
	for _, be := range redistest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			rcA, rcB := be.Open(t)
			a, b := newTrackedCache(t, rcA), newTrackedCache(t, rcB)
			o := newOrigin(20)
			a.Namespace("user", o.load)
			nsB := b.Namespace("user", o.load)
			ctx := context.Background()
			for _, id := range []string{"1", "2", "3", "4", "5"} { // several slots
				untilNear(t, b, nsB, id)
				o.set(id, `{"v":2}`)
				if err := a.Invalidate(ctx, "user:"+id); err != nil {
					t.Fatal(err)
				}
				if d := readUntil(t, b, nsB, id, `{"v":2}`, time.Second); d > 500*time.Millisecond {
					t.Fatalf("b served the new %s after %s", id, d)
				}
				// A DEL behind the cache's back: no pub/sub message, only tracking.
				untilNear(t, b, nsB, id)
				o.set(id, `{"v":3}`)
				if err := rcA.Del(ctx, a.k.entry("user:"+id)).Err(); err != nil {
					t.Fatal(err)
				}
				readUntil(t, b, nsB, id, `{"v":3}`, time.Second)
			}
		})
	}
}

// TestTrackedNearCacheReadRacesInvalidation: a value read from Redis just
// before another pod's write, whose invalidation this pod hears before it
// installs the value (an injected delay), is served to that one reader but
// never installed: the next read does not serve it from memory.
func TestTrackedNearCacheReadRacesInvalidation(t *testing.T) {
	_, a, b, nsB, o := twoTrackedPods(t)
	ctx := context.Background()
	b.Get(ctx, nsB, "1") // stored in Redis
	untilNear(t, b, nsB, "1")
	b.near.invalidate([]string{"*"})
	key := b.k.entry("user:1")
	b.afterRead = func(string) {
		b.afterRead = nil
		st := b.near.tr.Begin(key)
		o.set("1", `{"v":2}`)
		if err := a.Invalidate(ctx, "user:1"); err != nil {
			t.Error(err)
		}
		waitFor(t, func() bool { return !b.near.tr.Valid(st) }) // b heard it
	}
	if r, _ := b.Get(ctx, nsB, "1"); string(r.Body) != `{"id":1}` {
		t.Fatalf("the racing read served %s, want the value it read", r.Body)
	}
	if r, _ := b.Get(ctx, nsB, "1"); string(r.Body) != `{"v":2}` {
		t.Fatalf("after the race b serves %s (%v): the stale read was installed", r.Body, r.Status)
	}
}

// TestNearHitCostsNoRedisCommand: a near hit sends nothing to Redis; a
// Redis hit sends one GET.
func TestNearHitCostsNoRedisCommand(t *testing.T) {
	rs := redistest.Start(t)
	rc := rs.Redisx(t)
	cmds := redistest.CountCommands(rc)
	c := newTrackedCache(t, rc)
	o := newOrigin(3)
	ns := c.Namespace("user", o.load)
	ctx := cmds.Mark(context.Background())
	c.Get(ctx, ns, "1")
	time.Sleep(100 * time.Millisecond) // the fill's own invalidation is heard
	c.near.invalidate([]string{"*"})
	before := cmds.N()
	if r, _ := c.Get(ctx, ns, "1"); r.Status != Hit {
		t.Fatalf("read: %v, want a Redis hit", r.Status)
	}
	if n := cmds.N() - before; n != 1 {
		t.Fatalf("a Redis hit sent %d commands, want 1", n)
	}
	untilNear(t, c, ns, "1")
	before = cmds.N()
	for range 100 {
		if r, _ := c.Get(ctx, ns, "1"); r.Status != NearHit {
			t.Fatalf("read: %v, want a near hit", r.Status)
		}
	}
	if n := cmds.N() - before; n != 0 {
		t.Fatalf("100 near hits sent %d Redis commands, want 0", n)
	}
}

// TestTrackedNearCacheWhenTrackingIsKilled: CLIENT KILL of b's
// invalidation connection, then a write on a: b falls back to Redis reads
// at once (no near hits while tracking is down) and never serves the old
// value, then resumes near hits when tracking is back.
func TestTrackedNearCacheWhenTrackingIsKilled(t *testing.T) {
	rs, a, b, nsB, o := twoTrackedPods(t)
	ctx := context.Background()
	untilNear(t, b, nsB, "1")
	admin := rs.Client()
	killed := killTrackingOf(t, admin)
	waitFor(t, func() bool { return !b.near.tr.Live() || killed() })
	o.set("1", `{"v":2}`)
	if err := a.Invalidate(ctx, "user:1"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, b, nsB, "1", `{"v":2}`, time.Second)
	for range 50 {
		if r, _ := b.Get(ctx, nsB, "1"); string(r.Body) != `{"v":2}` {
			t.Fatalf("b went back to %s (%v)", r.Body, r.Status)
		}
	}
	waitFor(t, func() bool { r, _ := b.Get(ctx, nsB, "1"); return r.Status == NearHit })
}

// killTrackingOf kills every tracking connection; the func it returns
// reports whether new ones were made since (the kill was noticed and
// recovered from).
func killTrackingOf(t *testing.T, c *redis.Client) func() bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	ids := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		list, _ := c.ClientList(ctx).Result()
		var out []string
		for _, l := range strings.Split(list, "\n") {
			if strings.Contains(l, "name=redlane-tracking") {
				out = append(out, strings.Fields(l)[0])
			}
		}
		return strings.Join(out, ",")
	}
	return func() bool { return ids() != "" }
}
