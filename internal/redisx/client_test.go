package redisx_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/redistest"
	"github.com/redlane/redlane/internal/redisx"
)

func redisCfg(mut func(*config.Redis)) config.Redis {
	c := &config.Config{}
	mut(&c.Spec.Redis)
	config.SetDefaults(c)
	return c.Spec.Redis
}

func open(t *testing.T, cfg config.Redis) *redisx.Client {
	t.Helper()
	c, err := redisx.Open(cfg, redisx.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestOpenEveryMode(t *testing.T) {
	plain := redistest.Start(t)
	withPass := redistest.Start(t, redistest.WithPassword("s3cret-pass"))
	tlsSrv := redistest.StartTLS(t)
	cluster := redistest.StartCluster(t, 3, 0)
	sentinel := redistest.StartSentinel(t, plain, "mymaster")

	tests := []struct {
		name  string
		cfg   config.Redis
		mode  redisx.Mode
		nodes int
	}{
		{"url", redisCfg(func(r *config.Redis) { r.URL = plain.URL() }), redisx.ModeStandalone, 1},
		{"host and port", redisCfg(func(r *config.Redis) { r.Host, r.Port = "127.0.0.1", plain.Port }), redisx.ModeStandalone, 1},
		{"password in url", redisCfg(func(r *config.Redis) { r.URL = withPass.URL() }), redisx.ModeStandalone, 1},
		{"password beside url", redisCfg(func(r *config.Redis) { r.URL, r.Password = "redis://"+withPass.Addr()+"/0", "s3cret-pass" }), redisx.ModeStandalone, 1},
		{"tls with ca file", redisCfg(func(r *config.Redis) {
			r.Host, r.Port = "127.0.0.1", tlsSrv.Port
			r.TLS = config.TLS{Enabled: true, CAFile: tlsSrv.CAFile, ServerName: "localhost"}
		}), redisx.ModeStandalone, 1},
		{"rediss url", redisCfg(func(r *config.Redis) {
			r.URL = "rediss://" + tlsSrv.Addr() + "/0"
			r.TLS = config.TLS{CAFile: tlsSrv.CAFile, ServerName: "localhost"}
		}), redisx.ModeStandalone, 1},
		{"cluster addrs", redisCfg(func(r *config.Redis) { r.Addrs = cluster.Addrs() }), redisx.ModeCluster, 3},
		{"cluster single seed", redisCfg(func(r *config.Redis) { r.Addrs, r.ClusterMode = cluster.Addrs()[:1], true }), redisx.ModeCluster, 3},
		{"sentinel", redisCfg(func(r *config.Redis) {
			r.Addrs = []string{sentinel.Addr()}
			r.Sentinel.MasterName = "mymaster"
		}), redisx.ModeSentinel, 1},
		{"embedded", redisCfg(func(r *config.Redis) {}), redisx.ModeEmbedded, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t, tc.cfg)
			if c.Mode != tc.mode {
				t.Fatalf("mode = %s, want %s", c.Mode, tc.mode)
			}
			ctx := context.Background()
			if err := c.Ping(ctx, 2*time.Second); err != nil {
				t.Fatalf("ping: %v", err)
			}
			key := c.Key("test", tc.name)
			if err := c.Set(ctx, key, "v", time.Minute).Err(); err != nil {
				t.Fatalf("set: %v", err)
			}
			if got, err := c.Get(ctx, key).Result(); err != nil || got != "v" {
				t.Fatalf("get = %q, %v", got, err)
			}
			if tc.mode != redisx.ModeSentinel { // INFO through a failover client reaches the master only
				nodes := redisx.NewInfoCache(c, time.Second).Nodes(ctx)
				if len(nodes) != tc.nodes {
					t.Fatalf("INFO nodes = %d, want %d", len(nodes), tc.nodes)
				}
				for _, n := range nodes {
					if n.Err != nil {
						t.Fatalf("INFO %s: %v", n.Node, n.Err)
					}
				}
			}
		})
	}
}

func TestWrongPasswordFails(t *testing.T) {
	s := redistest.Start(t, redistest.WithPassword("right-password"))
	c := open(t, redisCfg(func(r *config.Redis) { r.Host, r.Port, r.Password = "127.0.0.1", s.Port, "wrong" }))
	err := c.Ping(context.Background(), time.Second)
	if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("ping with wrong password: %v, want WRONGPASS", err)
	}
}

func TestEveryCommandGetsADeadline(t *testing.T) {
	s := redistest.Start(t)
	c := open(t, redisCfg(func(r *config.Redis) {
		r.URL = s.URL()
		r.CommandTimeout = config.D(200 * time.Millisecond)
	}))
	start := time.Now()
	// BLPOP with timeout 0 blocks forever on Redis; the hook's deadline must end it.
	err := c.BLPop(context.Background(), 0, c.Key("never")).Err()
	if err == nil {
		t.Fatal("BLPOP on an empty list returned without error")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("BLPOP took %s; the default deadline did not apply", d)
	}
	// A deadline set by the caller wins over the default.
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	start = time.Now()
	_ = c.BLPop(ctx, 0, c.Key("never")).Err()
	if d := time.Since(start); d < 600*time.Millisecond {
		t.Fatalf("caller deadline of 800ms cut at %s", d)
	}
}

func TestUnavailableWhenServerStops(t *testing.T) {
	s := redistest.Start(t)
	c := open(t, redisCfg(func(r *config.Redis) { r.URL = s.URL() }))
	ctx := context.Background()
	if err := c.Ping(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	err := c.Ping(ctx, time.Second)
	if !errdefs.IsUnavailable(err) {
		t.Fatalf("after stop, ping error %v is not classed unavailable", err)
	}
	if errdefs.IsUnavailable(errors.New("WRONGTYPE Operation against a key holding the wrong kind of value")) {
		t.Fatal("WRONGTYPE classed as unavailable")
	}
	s.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for c.Ping(ctx, time.Second) != nil {
		if time.Now().After(deadline) {
			t.Fatal("client did not reconnect after restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMetricsPerNode(t *testing.T) {
	cluster := redistest.StartCluster(t, 3, 0)
	c := open(t, redisCfg(func(r *config.Redis) { r.Addrs = cluster.Addrs() }))
	_ = c.Ping(context.Background(), time.Second)
	reg := prometheus.NewRegistry()
	c.RegisterMetrics(reg, redisx.NewInfoCache(c, time.Second))
	for _, name := range []string{
		"redlane_redis_up", "redlane_redis_memory_used_bytes", "redlane_redis_memory_max_bytes",
		"redlane_redis_evicted_keys_total", "redlane_redis_expired_keys_total", "redlane_redis_keyspace_hits_total",
		"redlane_redis_keyspace_misses_total", "redlane_redis_connected_clients", "redlane_redis_blocked_clients",
		"redlane_redis_commands_processed_total", "redlane_redis_ops_per_second", "redlane_redis_uptime_seconds",
		"redlane_redis_instance_info", "redlane_redis_memory_fragmentation_ratio",
	} {
		if n := testutil.CollectAndCount(reg, name); n != 3 {
			t.Errorf("%s: %d series, want one per node (3)", name, n)
		}
	}
	if n := testutil.CollectAndCount(reg, "redlane_redis_pool_hits_total"); n != 1 {
		t.Errorf("pool hits: %d series", n)
	}
}

func TestInfoIsCached(t *testing.T) {
	s := redistest.Start(t)
	c := open(t, redisCfg(func(r *config.Redis) { r.URL = s.URL() }))
	cache := redisx.NewInfoCache(c, time.Hour)
	raw := s.Client()
	ctx := context.Background()
	cache.Nodes(ctx)
	before := commandCount(t, raw, "info")
	for i := 0; i < 20; i++ {
		cache.Nodes(ctx)
	}
	if after := commandCount(t, raw, "info"); after != before+1 {
		t.Fatalf("20 cached reads ran INFO %d more times", after-before-1)
	}
}

// commandCount reads how often cmd ran; the INFO that reads it counts too,
// but only after it has answered.
func commandCount(t *testing.T, c *redis.Client, cmd string) int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	f := redisx.ParseInfo(info)["cmdstat_"+cmd]
	calls, _, _ := strings.Cut(strings.TrimPrefix(f, "calls="), ",")
	n, _ := strconv.Atoi(calls)
	return n
}

// TestGoRedisMessagesGoToTheLogger: go-redis's own messages (here a dial
// failure) reach the logger passed to Open, at debug level, not stderr.
func TestGoRedisMessagesGoToTheLogger(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close() // nothing listens there now: every dial is refused
	rec := &recorder{}
	c, err := redisx.Open(redisCfg(func(r *config.Redis) { r.Host, r.Port = "127.0.0.1", addr.Port }), redisx.Options{Logger: slog.New(rec)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(context.Background(), 2*time.Second); err == nil {
		t.Fatal("ping of a closed port succeeded")
	}
	want := "DEBUG component=go-redis"
	if got := rec.lines(); !slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, want) && strings.Contains(l, "failed to dial") }) {
		t.Fatalf("no %q line about the dial failure in the logger given to Open: %q", want, got)
	}
}

// recorder is a slog.Handler keeping "LEVEL attrs: message" of each record;
// go-redis may log from its own goroutines, hence the lock.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	line := rec.Level.String()
	rec.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, line+": "+rec.Message)
	return nil
}

func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}
