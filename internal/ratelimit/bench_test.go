package ratelimit_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/ratelimit"
	"github.com/redlane/redlane/internal/redistest"
)

// countHook counts what the client sends: each command or pipeline is one
// network round trip.
type countHook struct{ trips *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.trips.Add(1)
		return next(ctx, cmd)
	}
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.trips.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkDecision measures rate-limit decisions per second against a real
// redis-server on loopback, from parallel goroutines over 1000 subjects,
// and reports Redis round trips per decision (client-side count) and
// script calls per decision (server-side, INFO commandstats).
//
//	go test -run '^$' -bench Decision -count 5 ./internal/ratelimit
func BenchmarkDecision(b *testing.B) {
	rs := redistest.Start(b)
	rc := rs.Redisx(b)
	var trips atomic.Int64
	rc.AddHook(countHook{&trips})
	opts := ratelimit.DefaultOptions()
	opts.Timeout = time.Second
	l := ratelimit.New(rc, nil, opts)
	rate := ratelimit.Rate{Limit: 1_000_000, Period: time.Second}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = ratelimit.Key(rc, "bench", "ip:10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256))
	}
	if _, err := l.Allow(context.Background(), keys[0], rate); err != nil { // loads the script
		b.Fatal(err)
	}
	direct := rs.Client()
	var i atomic.Int64
	b.Run("decision", func(b *testing.B) {
		trips.Store(0)
		before := scriptCalls(b, direct)
		b.SetParallelism(8) // 16 goroutines on 2 cores: concurrent requests
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := l.Allow(context.Background(), keys[i.Add(1)%1000], rate); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(trips.Load())/float64(b.N), "roundtrips/decision")
		b.ReportMetric(float64(scriptCalls(b, direct)-before)/float64(b.N), "scripts/decision")
	})
	// The floor: one PING round trip on the same client, same parallelism.
	b.Run("ping-baseline", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := rc.Ping(context.Background(), time.Second); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// scriptCalls sums EVAL and EVALSHA calls from INFO commandstats.
func scriptCalls(b *testing.B, c *redis.Client) int64 {
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(info, "\n") {
		if strings.HasPrefix(line, "cmdstat_evalsha:") || strings.HasPrefix(line, "cmdstat_eval:") {
			v := strings.TrimPrefix(strings.Split(strings.SplitN(line, ":", 2)[1], ",")[0], "calls=")
			c, _ := strconv.ParseInt(v, 10, 64)
			n += c
		}
	}
	return n
}
