package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/redlane/redlane/internal/cache"
	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/httpapi"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/store"
	"github.com/redlane/redlane/internal/telemetry"
)

// BenchmarkGetUserHit measures the whole server (middleware, router,
// handler, cache) serving GET /users/{id} hits, without the network:
//
//	go test ./internal/httpapi -run - -bench GetUserHit -benchmem -cpuprofile cpu.out
func BenchmarkGetUserHit(b *testing.B) {
	for _, near := range []bool{true, false} {
		b.Run("near="+strconv.FormatBool(near), func(b *testing.B) {
			cfg := config.Default()
			cfg.Spec.Log.Level = "warn"
			cfg.Spec.Cache.Near.Enabled = near
			n := 100
			cfg.Spec.Database.SeedUsers = &n
			log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
			rc, err := redisx.Open(cfg.Spec.Redis, redisx.Options{Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			defer rc.Close()
			users, err := store.Open(context.Background(), cfg.Spec.Database, store.Options{Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			defer users.Close()
			cs := config.NewStore(cfg, "")
			reg := telemetry.NewRegistry("bench")
			cc := cache.New(rc, cs, cache.Options{Logger: log, Registry: reg})
			defer cc.Close()
			h := httpapi.NewServer(httpapi.Deps{Config: cs, Redis: rc, Users: users, Cache: cc, UsersAPI: cache.NewUsersAPI(cc, users),
				Logger: log, Registry: reg, Probes: httpapi.NewProbes(1e9), Reload: func() {}})
			for id := 1; id <= n; id++ {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/"+strconv.Itoa(id), nil))
			}
			reqs := make([]*httptest.ResponseRecorder, 0)
			_ = reqs
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i = i%n + 1
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest("GET", "/users/"+strconv.Itoa(i), nil))
					if rec.Code != 200 {
						b.Fatalf("status %d", rec.Code)
					}
				}
			})
		})
	}
}
