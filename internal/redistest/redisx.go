package redistest

import (
	"io"
	"log/slog"
	"testing"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redisx"
)

// Redisx opens a Redlane client (the one the service uses, with its
// deadline hook and key prefix) on this standalone server.
func (s *Server) Redisx(t testing.TB) *redisx.Client {
	t.Helper()
	return openRedisx(t, func(r *config.Redis) { r.URL = s.URL() })
}

// Redisx opens a Redlane Cluster client on this cluster.
func (c *Cluster) Redisx(t testing.TB) *redisx.Client {
	t.Helper()
	return openRedisx(t, func(r *config.Redis) { r.Addrs, r.Password = c.Addrs(), c.Password })
}

func openRedisx(t testing.TB, set func(*config.Redis)) *redisx.Client {
	t.Helper()
	cfg := &config.Config{}
	set(&cfg.Spec.Redis)
	config.SetDefaults(cfg)
	rc, err := redisx.Open(cfg.Spec.Redis, redisx.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("opening redisx client: %v", err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	return rc
}

// Backend is a kind of Redis deployment that a domain package's tests run
// on; Open starts a fresh one and returns two clients, like two Redlane pods.
type Backend struct {
	Name string
	Open func(t testing.TB) (*redisx.Client, *redisx.Client)
}

// Backends are standalone and a 3-master Cluster: Lua scripts and keys that
// work on both are Cluster-safe.
func Backends() []Backend {
	return []Backend{
		{"standalone", func(t testing.TB) (*redisx.Client, *redisx.Client) {
			s := Start(t)
			return s.Redisx(t), s.Redisx(t)
		}},
		{"cluster", func(t testing.TB) (*redisx.Client, *redisx.Client) {
			c := StartCluster(t, 3, 0)
			return c.Redisx(t), c.Redisx(t)
		}},
	}
}

// Redisx opens a Redlane client to the server behind the proxy.
func (p *Proxy) Redisx(t testing.TB) *redisx.Client {
	t.Helper()
	return openRedisx(t, func(r *config.Redis) { r.URL = "redis://" + p.Addr() + "/0" })
}
