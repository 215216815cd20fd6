// Package redisx opens the one Redis client of the process (standalone, Sentinel,
// Cluster or an embedded development server), gives every command a deadline,
// and exposes Redis health, pool statistics and INFO as Prometheus metrics.
package redisx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/redlane/redlane/internal/config"
)

// Mode is how Redlane reaches Redis.
type Mode string

// The modes Open can produce.
const (
	ModeStandalone Mode = "standalone"
	ModeSentinel   Mode = "sentinel"
	ModeCluster    Mode = "cluster"
	ModeEmbedded   Mode = "embedded"
)

// ErrNotConfigured is returned when no Redis is configured and the embedded
// server is disabled.
var ErrNotConfigured = errors.New("no Redis configured: set REDIS_URL, spec.redis.url, spec.redis.host or spec.redis.addrs")

// Client is the process-wide Redis client with what Redlane knows about it.
type Client struct {
	redis.UniversalClient
	Mode   Mode
	Prefix string
	addr   string // what to show in logs: host:port list, never credentials

	embedded *miniredis.Miniredis
	stopTick chan struct{}
	tickDone chan struct{}
}

// Options are the process-level knobs Open needs beside the Redis section.
type Options struct {
	// Logger gets Redlane's Redis messages and go-redis's own (reconnects,
	// pool dial failures) at debug level; nil means slog.Default().
	Logger *slog.Logger
	// Tracer, when non-nil, gets a span for every Redis command.
	Tracer trace.TracerProvider
}

// Open builds the client for cfg. It does not wait for Redis to answer:
// readiness reports that, and go-redis reconnects by itself.
func Open(cfg config.Redis, o Options) (*Client, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	routeGoRedisLog(o.Logger)
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{Prefix: cfg.KeyPrefix}
	switch {
	case cfg.URL != "":
		opts, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("spec.redis.url: %w", err)
		}
		if opts.Username == "" {
			opts.Username = cfg.Username
		}
		if opts.Password == "" {
			opts.Password = cfg.Password
		}
		if tlsCfg != nil {
			if opts.TLSConfig != nil && tlsCfg.ServerName == "" {
				tlsCfg.ServerName = opts.TLSConfig.ServerName
			}
			opts.TLSConfig = tlsCfg
		}
		applyCommon(opts, cfg)
		c.UniversalClient, c.Mode, c.addr = redis.NewClient(opts), ModeStandalone, opts.Addr
	case cfg.Sentinel.MasterName != "":
		u := universal(cfg, tlsCfg)
		u.MasterName = cfg.Sentinel.MasterName
		u.SentinelUsername = cfg.Sentinel.Username
		u.SentinelPassword = cfg.Sentinel.Password
		c.UniversalClient, c.Mode = redis.NewFailoverClient(u.Failover()), ModeSentinel
		c.addr = cfg.Sentinel.MasterName + "@" + strings.Join(cfg.Addrs, ",")
	case len(cfg.Addrs) > 1 || (len(cfg.Addrs) == 1 && cfg.ClusterMode):
		u := universal(cfg, tlsCfg)
		u.DB = 0
		c.UniversalClient, c.Mode, c.addr = redis.NewClusterClient(u.Cluster()), ModeCluster, strings.Join(cfg.Addrs, ",")
	case len(cfg.Addrs) == 1 || cfg.Host != "":
		u := universal(cfg, tlsCfg)
		if cfg.Host != "" {
			u.Addrs = []string{net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))}
		}
		c.UniversalClient, c.Mode, c.addr = redis.NewClient(u.Simple()), ModeStandalone, u.Addrs[0]
	default:
		if cfg.Embedded.Disabled {
			return nil, ErrNotConfigured
		}
		if err := c.startEmbedded(cfg); err != nil {
			return nil, err
		}
		o.Logger.Warn("EMBEDDED REDIS: development mode. Data lives in this process and is lost on exit; "+
			"Cluster-only features are off. Point Redlane at a real server with REDIS_URL=redis://host:6379/0 "+
			"(or spec.redis.url, or spec.redis.addrs for a Cluster).", "addr", c.addr)
	}
	c.AddHook(deadlineHook{timeout: cfg.CommandTimeout.Duration})
	if cc, ok := c.UniversalClient.(*redis.ClusterClient); ok {
		c.AddHook(topologyHook{cc})
	}
	if o.Tracer != nil {
		if err := redisotel.InstrumentTracing(c.UniversalClient, redisotel.WithTracerProvider(o.Tracer), redisotel.WithDBStatement(false)); err != nil {
			return nil, fmt.Errorf("instrumenting redis tracing: %w", err)
		}
	}
	return c, nil
}

func universal(cfg config.Redis, tlsCfg *tls.Config) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:                 cfg.Addrs,
		DB:                    cfg.DB,
		Username:              cfg.Username,
		Password:              cfg.Password,
		TLSConfig:             tlsCfg,
		ClientName:            "redlane",
		PoolSize:              cfg.PoolSize,
		MinIdleConns:          cfg.MinIdleConns,
		DialTimeout:           cfg.DialTimeout.Duration,
		ReadTimeout:           cfg.ReadTimeout.Duration,
		WriteTimeout:          cfg.WriteTimeout.Duration,
		PoolTimeout:           poolTimeout(cfg),
		MaxRetries:            noRetries,
		ContextTimeoutEnabled: true,
		IsClusterMode:         cfg.ClusterMode,
	}
}

func applyCommon(o *redis.Options, cfg config.Redis) {
	o.ClientName = "redlane"
	o.PoolSize = cfg.PoolSize
	o.MinIdleConns = cfg.MinIdleConns
	o.DialTimeout = cfg.DialTimeout.Duration
	o.ReadTimeout = cfg.ReadTimeout.Duration
	o.WriteTimeout = cfg.WriteTimeout.Duration
	o.PoolTimeout = poolTimeout(cfg)
	o.MaxRetries = noRetries
	o.ContextTimeoutEnabled = true
}

// noRetries turns off go-redis's own retries of a failed command. Every
// command has a deadline, and its callers already know what to do when it
// fails (fall back to the database, answer 503, redial a subscription);
// a retry inside go-redis instead waits out a backoff and a free
// connection that the cache's timer-less hit path cannot bound, which made
// a read wait 1.7 s for a paused Redis whose deadline is 1 s. Dead pooled
// connections (after a Redis restart) are caught when taken from the pool,
// so they do not need a retry. Cluster redirections (MOVED, ASK) and the
// move to another node after a connection error are not retries and stay.
const noRetries = -1

// poolTimeout is how long a command may wait for a free connection: never
// longer than the command timeout. A command with a deadline of its own
// stops waiting at its deadline anyway, but the cache's hit path sets its
// socket deadline without a context timer (no timer per request), and
// would otherwise wait the whole poolTimeout when Redis hangs and every
// connection is busy.
func poolTimeout(cfg config.Redis) time.Duration {
	return min(cfg.PoolTimeout.Duration, cfg.CommandTimeout.Duration)
}

func tlsConfig(cfg config.Redis) (*tls.Config, error) {
	t := cfg.TLS
	if !t.Enabled && t.CAFile == "" && t.CertFile == "" && !t.InsecureSkipVerify {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, documented as never for production
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("spec.redis.tls.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("spec.redis.tls.caFile: no PEM certificates in %s", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("spec.redis.tls.certFile/keyFile: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// startEmbedded runs miniredis on loopback. miniredis only ages keys when
// told to, so a ticker owned by the Client advances its clock in real time.
func (c *Client) startEmbedded(cfg config.Redis) error {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return fmt.Errorf("starting embedded redis: %w", err)
	}
	c.embedded, c.Mode, c.addr = m, ModeEmbedded, m.Addr()
	opts := universal(cfg, nil)
	opts.Addrs = []string{m.Addr()}
	opts.DB = 0
	c.UniversalClient = redis.NewClient(opts.Simple())
	c.stopTick, c.tickDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(c.tickDone)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-c.stopTick:
				return
			case now := <-t.C:
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	return nil
}

// Addr describes the server(s) for logs, without credentials.
func (c *Client) Addr() string { return c.addr }

// Embedded reports whether this is the in-process development server.
func (c *Client) Embedded() bool { return c.Mode == ModeEmbedded }

// IsCluster reports whether keys are spread over Cluster slots.
func (c *Client) IsCluster() bool { return c.Mode == ModeCluster }

// Key joins parts under the configured prefix: Key("cache", "user:1") is
// "redlane:cache:user:1".
func (c *Client) Key(parts ...string) string {
	return c.Prefix + strings.Join(parts, ":")
}

// Ping checks that Redis answers within timeout.
func (c *Client) Ping(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.UniversalClient.Ping(ctx).Err()
}

// Close closes the pool and stops the embedded server, if any.
func (c *Client) Close() error {
	err := c.UniversalClient.Close()
	if c.embedded != nil {
		close(c.stopTick)
		<-c.tickDone
		c.embedded.Close()
	}
	return err
}

// routeGoRedisLog sends go-redis's internal messages (reconnect attempts,
// pool dial failures) to l at debug level: when Redis is down, readiness and
// the 503s already say so, once per request rather than once per dial.
// go-redis keeps one logger per process, not per client; Open sets it from
// its Options because a process has one client, so the last Open wins.
func routeGoRedisLog(l *slog.Logger) {
	redis.SetLogger(slogAdapter{l})
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	a.l.Debug("go-redis: "+fmt.Sprintf(format, v...), "component", "go-redis")
}
