package tracking_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redistest"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/tracking"
)

// recorder is a local copy that remembers what it was told.
type recorder struct {
	mu      sync.Mutex
	keys    map[string]int
	flushes int
	changed chan struct{}
}

func newRecorder() *recorder {
	return &recorder{keys: map[string]int{}, changed: make(chan struct{}, 1)}
}

func (r *recorder) Invalidate(keys []string) {
	r.mu.Lock()
	for _, k := range keys {
		r.keys[k]++
	}
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) Flush() {
	r.mu.Lock()
	r.flushes++
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) poke() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) seen(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys[key]
}

func (r *recorder) flushCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flushes
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// start runs a tracker over rc for prefix until the test ends.
func start(t *testing.T, rc *redisx.Client, prefix string, o tracking.Options) (*tracking.Tracker, *recorder) {
	t.Helper()
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	tr := tracking.New(rc, o)
	rec := newRecorder()
	tr.Track(prefix, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = tr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 20*time.Second, "tracking to be live", tr.Live)
	return tr, rec
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestWritesOnAnyClientInvalidate: a write by another client to a tracked
// key (in any Cluster slot) reaches the handler; writes outside the
// prefixes do not.
func TestWritesOnAnyClientInvalidate(t *testing.T) {
	for _, be := range redistest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			a, b := be.Open(t)
			_, rec := start(t, a, "tt:{", tracking.Options{})
			ctx := ctxT(t)
			for i := range 20 { // spread over slots, hence over masters
				key := fmt.Sprintf("tt:{k%d}", i)
				if err := b.Set(ctx, key, "v", time.Minute).Err(); err != nil {
					t.Fatal(err)
				}
				waitFor(t, 2*time.Second, "invalidation of "+key, func() bool { return rec.seen(key) > 0 })
			}
			if err := b.Set(ctx, "other:{x}", "v", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			if err := b.Del(ctx, "tt:{k0}").Err(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 2*time.Second, "invalidation of the DEL", func() bool { return rec.seen("tt:{k0}") == 2 })
			if rec.seen("other:{x}") != 0 {
				t.Fatal("a key outside the tracked prefixes was reported")
			}
		})
	}
}

// TestServerFlushFlushesEverything: FLUSHALL sends a null invalidation;
// every copy is flushed and tracking comes back by itself.
func TestServerFlushFlushesEverything(t *testing.T) {
	s := redistest.Start(t)
	tr, rec := start(t, s.Redisx(t), "tt:", tracking.Options{})
	before := rec.flushCount()
	if err := s.Client().FlushAll(ctxT(t)).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "a flush", func() bool { return rec.flushCount() > before })
	waitFor(t, 5*time.Second, "tracking live again", tr.Live)
	if err := s.Client().Set(ctxT(t), "tt:after", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "invalidation after the flush", func() bool { return rec.seen("tt:after") > 0 })
}

// TestKilledConnectionFlushes: CLIENT KILL of the invalidation connection
// turns tracking off and flushes at once; a new connection brings it back
// and writes are heard again.
func TestKilledConnectionFlushes(t *testing.T) {
	s := redistest.Start(t)
	tr, rec := start(t, s.Redisx(t), "tt:", tracking.Options{})
	admin := s.Client()
	before := rec.flushCount()
	killTracking(t, admin)
	waitFor(t, time.Second, "a flush after the kill", func() bool { return rec.flushCount() > before })
	waitFor(t, 5*time.Second, "tracking live again", tr.Live)
	if err := admin.Set(ctxT(t), "tt:k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "invalidation on the new connection", func() bool { return rec.seen("tt:k") > 0 })
}

func killTracking(t *testing.T, c *redis.Client) {
	t.Helper()
	list, err := c.ClientList(ctxT(t)).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, "name=redlane-tracking") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := c.Do(ctxT(t), "CLIENT", "KILL", "ID", id).Err(); err != nil {
					t.Fatal(err)
				}
				killed++
			}
		}
	}
	if killed == 0 {
		t.Fatal("no tracking connection to kill")
	}
}

// TestStalledConnectionGoesDown: a connection that carries nothing (a
// black-holed network) is noticed by its keepalive within DeadAfter.
func TestStalledConnectionGoesDown(t *testing.T) {
	s := redistest.Start(t)
	p := redistest.NewProxy(t, s.Addr())
	tr, rec := start(t, p.Redisx(t), "tt:", tracking.Options{PingEvery: 100 * time.Millisecond, DeadAfter: 300 * time.Millisecond})
	before := rec.flushCount()
	p.Stall()
	stalled := time.Now()
	waitFor(t, 2*time.Second, "tracking to go down", func() bool { return !tr.Live() })
	if d := time.Since(stalled); d > time.Second {
		t.Fatalf("noticed the stall after %s", d)
	}
	if rec.flushCount() == before {
		t.Fatal("going down did not flush")
	}
	p.Restore()
	waitFor(t, 10*time.Second, "tracking live again", tr.Live)
}

// TestReadInvalidationInstallRace: a value read before a write whose
// invalidation arrives before the value is installed is never kept —
// whether the invalidation lands before the install (an injected delay
// between read and install) or while it is being installed.
func TestReadInvalidationInstallRace(t *testing.T) {
	s := redistest.Start(t)
	tr, rec := start(t, s.Redisx(t), "tt:", tracking.Options{})
	w := s.Client()
	ctx := ctxT(t)
	write := func(key string) {
		n := rec.seen(key)
		if err := w.Incr(ctx, key).Err(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Second, "invalidation of "+key, func() bool { return rec.seen(key) > n })
	}
	var local sync.Map

	// Delay between read and install, with the write in it.
	st := tr.Begin("tt:a")
	write("tt:a")
	if tr.Keep(st, func() { local.Store("tt:a", "old") }, func() { local.Delete("tt:a") }) {
		t.Fatal("kept a value whose key was invalidated between read and install")
	}
	if _, ok := local.Load("tt:a"); ok {
		t.Fatal("the stale value is in the local copy")
	}

	// The invalidation lands while the value is being installed.
	st = tr.Begin("tt:b")
	kept := tr.Keep(st, func() { local.Store("tt:b", "old"); write("tt:b") }, func() { local.Delete("tt:b") })
	if _, ok := local.Load("tt:b"); kept || ok {
		t.Fatal("kept a value invalidated during its install")
	}

	// Another key's invalidation in between does not (usually) void it.
	var ok bool
	for i := 0; i < 5 && !ok; i++ {
		st = tr.Begin("tt:c")
		write(fmt.Sprintf("tt:other%d", i))
		ok = tr.Keep(st, func() { local.Store("tt:c", "v") }, func() { local.Delete("tt:c") })
	}
	if !ok {
		t.Fatal("unrelated invalidations void every install")
	}

	// A flush in between voids it too.
	st = tr.Begin("tt:d")
	flushes := rec.flushCount()
	killTracking(t, w)
	waitFor(t, 2*time.Second, "a flush after the kill", func() bool { return rec.flushCount() > flushes })
	waitFor(t, 5*time.Second, "tracking live again", tr.Live)
	if tr.Keep(st, func() { local.Store("tt:d", "old") }, func() { local.Delete("tt:d") }) {
		t.Fatal("kept a value read before a flush")
	}
}

// TestEmbeddedRedisDegrades: the embedded development Redis does not know
// CLIENT TRACKING; the tracker says so and is never live.
func TestEmbeddedRedisDegrades(t *testing.T) {
	cfg := &config.Config{}
	config.SetDefaults(cfg)
	logs := make(logSink, 100)
	rc, err := redisx.Open(cfg.Spec.Redis, redisx.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if !rc.Embedded() {
		t.Skip("defaults are not the embedded Redis")
	}
	tr := tracking.New(rc, tracking.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	tr.Track("tt:", newRecorder())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = tr.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 5*time.Second, "tracking to be reported unsupported", func() bool { return !tr.Supported() })
	if tr.Live() {
		t.Fatal("live on a server without tracking")
	}
	if !logs.has("does not support CLIENT TRACKING") {
		t.Fatal("no clear log line says tracking is off")
	}
}

// logSink keeps what a logger wrote, line by line, for a test to read.
// TestACLWithoutTrackingDegrades: a Redis user whose ACL forbids CLIENT
// TRACKING, or the invalidation channel, gets the same clear fallback as a
// server without tracking, instead of retrying forever in silence.
func TestACLWithoutTrackingDegrades(t *testing.T) {
	s := redistest.Start(t)
	admin := s.Client()
	for user, rules := range map[string][]any{
		"notracking": {"+@all", "-client|tracking", "&*"},
		"nochannel":  {"+@all", "resetchannels", "&redlane:*"},
	} {
		t.Run(user, func(t *testing.T) {
			args := append([]any{"ACL", "SETUSER", user, "on", ">pw", "~*"}, rules...)
			if err := admin.Do(ctxT(t), args...).Err(); err != nil {
				t.Fatal(err)
			}
			cfg := &config.Config{}
			cfg.Spec.Redis.URL = "redis://" + user + ":pw@" + s.Addr() + "/0"
			config.SetDefaults(cfg)
			rc, err := redisx.Open(cfg.Spec.Redis, redisx.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			logs := make(logSink, 100)
			tr := tracking.New(rc, tracking.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
			tr.Track("tt:", newRecorder())
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = tr.Run(ctx) }()
			defer func() { cancel(); <-done }()
			waitFor(t, 5*time.Second, "tracking to be reported unsupported", func() bool { return !tr.Supported() })
			if tr.Live() || !logs.has("does not support CLIENT TRACKING") {
				t.Fatal("live, or no clear log line")
			}
		})
	}
}

type logSink chan string

func (l logSink) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default:
	}
	return len(p), nil
}

func (l logSink) has(sub string) bool {
	for {
		select {
		case line := <-l:
			if strings.Contains(line, sub) {
				return true
			}
		default:
			return false
		}
	}
}

// TestClusterFailover: a master dies while its keys are tracked; tracking
// goes down (everything flushed), comes back on the promoted replica, and
// writes to those keys are heard again.
func TestClusterFailover(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	tr, rec := start(t, c.Redisx(t), "tt:{", tracking.Options{})
	key := "tt:{failover}"
	master := c.MasterOf(key)
	replica := c.ReplicaOf(master)
	if replica == nil {
		t.Fatal("the master has no replica")
	}
	writer := c.Client()
	before := rec.flushCount()
	master.Stop()
	waitFor(t, 3*time.Second, "tracking to go down", func() bool { return !tr.Live() })
	if rec.flushCount() == before {
		t.Fatal("losing a master did not flush")
	}
	waitFor(t, time.Minute, "tracking live on the new master", tr.Live)
	waitFor(t, 30*time.Second, "a write to the failed-over slot to be heard", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n := rec.seen(key)
		if writer.Set(ctx, key, "v", 0).Err() != nil {
			return false
		}
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if rec.seen(key) > n {
				return true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return false
	})
}

// TestClusterManualFailover: CLUSTER FAILOVER demotes a master that stays
// up (its invalidation connection too); the tracker notices the new master
// set within TopologyEvery, flushes, tracks the promoted master, and
// writes to its slots are heard again.
func TestClusterManualFailover(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	tr, rec := start(t, c.Redisx(t), "tt:{", tracking.Options{TopologyEvery: 200 * time.Millisecond})
	key := "tt:{manual}"
	master := c.MasterOf(key)
	replica := c.ReplicaOf(master)
	if replica == nil {
		t.Fatal("the master has no replica")
	}
	before := rec.flushCount()
	if err := replica.Client().Do(ctxT(t), "CLUSTER", "FAILOVER").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the replica to be promoted", func() bool { return c.MasterOf(key) == replica })
	promoted := time.Now()
	waitFor(t, 5*time.Second, "a flush for the new master set", func() bool { return rec.flushCount() > before })
	if d := time.Since(promoted); d > 2*time.Second {
		t.Errorf("the new master set was noticed %s after the promotion", d)
	}
	waitFor(t, 30*time.Second, "tracking live on the new master set", tr.Live)
	writer := c.Client()
	n := rec.seen(key)
	if err := writer.Set(ctxT(t), key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "a write on the promoted master to be heard", func() bool { return rec.seen(key) > n })
}
