package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/redlane/redlane/internal/cache"
	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/httpapi"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/store"
	"github.com/redlane/redlane/internal/telemetry"
	"github.com/redlane/redlane/internal/users"
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
			db, err := store.Open(context.Background(), cfg.Spec.Database, store.Options{Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			cs := config.NewStore(cfg, "")
			reg := telemetry.NewRegistry("bench")
			cc := cache.New(rc, cs, cache.Options{Logger: log, Registry: reg})
			defer cc.Close()
			h := httpapi.NewServer(httpapi.Deps{Config: cs, Cache: cc, UsersAPI: users.New(cc, db, cs, users.Options{Logger: log}),
				Logger: log, Registry: reg, Probes: httpapi.NewProbes(1e9, nil), Reload: func() {}})
			for id := 1; id <= n; id++ {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/"+strconv.Itoa(id), nil))
			}
			reqs := make([]*http.Request, n)
			for i := range reqs {
				reqs[i] = httptest.NewRequest("GET", "/users/"+strconv.Itoa(i+1), nil)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					i = (i + 1) % n
					clear(w.h)
					w.code = 0
					h.ServeHTTP(w, reqs[i])
					if w.code != 200 {
						b.Fatalf("status %d", w.code)
					}
				}
			})
		})
	}
}

// discardWriter is a ResponseWriter that keeps only the status, so the
// benchmark measures the server, not a recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return len(b), nil
}
