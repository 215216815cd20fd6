package session

import (
	"context"
	"testing"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redistest"
)

// BenchmarkLookup measures a token check of a live session against a real
// redis-server: from the pod's tracked copy, and with one HGETALL (no
// tracking), and reports the Redis commands each sends.
//
//	go test ./internal/session -run - -bench Lookup -benchmem
func BenchmarkLookup(b *testing.B) {
	s := redistest.Start(b)
	for _, tracked := range []bool{true, false} {
		name := "redis"
		if tracked {
			name = "tracked"
		}
		b.Run(name, func(b *testing.B) {
			e := setup(b, func(r *config.Redis) { r.URL = s.URL() }, func(*config.Sessions) {})
			if tracked {
				trackWith(b, e, e.rc)
			}
			cmds := redistest.CountCommands(e.rc)
			ctx := cmds.Mark(context.Background())
			tok, _ := e.login("alice")
			for range 3 {
				if _, err := e.m.Lookup(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
			before := cmds.N()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.m.Lookup(ctx, tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(cmds.N()-before)/float64(b.N), "redis-cmds/op")
		})
	}
}
