package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/redlane/redlane/internal/cache"
	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/docs"
	"github.com/redlane/redlane/internal/httpapi"
	"github.com/redlane/redlane/internal/leaderboard"
	"github.com/redlane/redlane/internal/lock"
	"github.com/redlane/redlane/internal/queue"
	"github.com/redlane/redlane/internal/ratelimit"
	"github.com/redlane/redlane/internal/realtime"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/session"
	usersdb "github.com/redlane/redlane/internal/store"
	"github.com/redlane/redlane/internal/telemetry"
	"github.com/redlane/redlane/internal/tracking"
	usersapi "github.com/redlane/redlane/internal/users"
	"github.com/redlane/redlane/internal/web"
)

type serveFlags struct {
	configFile     string
	address        string
	envFile        string
	reloadInterval time.Duration
	pprofAddress   string
}

func newServeCommand(getenv func(string) string, stderr io.Writer) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP/WebSocket server",
		Long: `Run the HTTP/WebSocket server (default :8000).

With no Redis configured (no REDIS_URL, spec.redis.url, host or addrs) an embedded
in-process Redis is started for development; it says so in the log. With no
database configured either (DATABASE_URL, spec.database.url or sqlitePath), an in-memory SQLite
gets the demo users user1..user300 (password password123); their password is
public, so nowhere else are they created unless spec.database.seedUsers asks.

Configuration, each source overriding the ones before it:
  defaults < file (--config or REDLANE_CONFIG) < .env (--env-file) < environment < --address
An empty environment variable counts as unset. The config file and the .env file
are watched; safe settings reload live, the others wait for a restart.

Profiling: --pprof-address HOST:PORT serves the net/http/pprof endpoints
(/debug/pprof/) on a listener of their own, stopped with the server. Off by
default; they are unauthenticated, so keep them on loopback.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.configFile == "" {
				f.configFile = getenv("REDLANE_CONFIG")
			}
			return serve(cmd.Context(), f, getenv, stderr)
		},
	}
	cmd.Flags().StringVarP(&f.configFile, "config", "c", "", "RedlaneConfig file (env REDLANE_CONFIG); watched for changes")
	cmd.Flags().StringVar(&f.address, "address", "", "listen address HOST:PORT, overriding config and PORT")
	cmd.Flags().StringVar(&f.envFile, "env-file", ".env", "KEY=VALUE file read into the environment if it exists; watched for changes")
	cmd.Flags().DurationVar(&f.reloadInterval, "reload-interval", 2*time.Second, "how often the config and env files are checked for changes")
	cmd.Flags().StringVar(&f.pprofAddress, "pprof-address", "", "serve net/http/pprof on HOST:PORT, e.g. 127.0.0.1:6060 (off when empty)")
	return cmd
}

// serve is the program as a table of contents: configuration, telemetry,
// Redis, the database, the domain services, the HTTP servers, then the run
// group until a signal. Cleanups are deferred, so they run in reverse order.
func serve(ctx context.Context, f serveFlags, getenv func(string) string, stderr io.Writer) error {
	cfg, env, watcher, err := loadConfig(f, getenv)
	if err != nil {
		return reportConfigErrors(stderr, "invalid configuration, ", err)
	}
	base, err := newBase(ctx, cfg, f.configFile, env, stderr)
	if err != nil {
		return err
	}
	defer shutdownWithin(5*time.Second, base.tracing.Shutdown)
	watcher.Store, watcher.Log = base.config, base.log

	rc, err := openRedis(cfg.Spec.Redis, base)
	if err != nil {
		return err
	}
	defer rc.Close()
	users, err := openDatabase(ctx, cfg.Spec.Database, rc.Embedded(), base.log)
	if err != nil {
		return err
	}
	defer users.Close()
	svc, err := newServices(cfg, base, rc, users, watcher.Reload)
	if err != nil {
		return err
	}

	servers, err := listen(ctx, cfg.Spec.Server, f.pprofAddress, svc)
	if err != nil {
		return err
	}
	err = runGroup(ctx, cfg.Spec.Server, base.log, svc, watcher, servers)
	base.log.Info("stopped")
	return err
}

// loadConfig loads the configuration serve starts with, the environment it
// was loaded with (.env included), and the watcher that reloads it when the
// config file or the .env file changes. Each load reads both files again, so
// a reload sees what changed in either.
func loadConfig(f serveFlags, getenv func(string) string) (*config.Config, func(string) string, *config.Watcher, error) {
	load := func() (*config.Config, func(string) string, error) {
		env, err := config.WithDotEnv(getenv, f.envFile)
		if err != nil {
			return nil, nil, err
		}
		c, err := config.Load(f.configFile, env)
		if err == nil && f.address != "" {
			c.Spec.Server.Address = f.address
			err = config.Validate(c)
		}
		return c, env, err
	}
	watcher := &config.Watcher{Interval: f.reloadInterval, Load: func() (*config.Config, error) {
		c, _, err := load()
		return c, err
	}}
	for _, p := range []string{f.configFile, f.envFile} {
		if p != "" {
			watcher.Paths = append(watcher.Paths, p)
		}
	}
	watcher.Prime() // before the first load, so no change slips between the two
	cfg, env, err := load()
	return cfg, env, watcher, err
}

// base is what every service is built with: the live configuration, the
// logger (its level follows the configuration), tracing (nil when off) and
// the metrics registry.
type base struct {
	config  *config.Store
	log     *slog.Logger
	tracing *telemetry.Tracing
	reg     *prometheus.Registry
}

func newBase(ctx context.Context, cfg *config.Config, configFile string, env func(string) string, stderr io.Writer) (*base, error) {
	level := new(slog.LevelVar)
	level.Set(telemetry.ParseLevel(cfg.Spec.Log.Level))
	log := telemetry.NewLogger(stderr, cfg.Spec.Log.Format, level)
	log.Info("starting redlane", "version", buildVersion(), "config", configFile)

	tracing, err := telemetry.SetupTracing(ctx, env, buildVersion())
	if err != nil {
		return nil, err
	}
	reg := telemetry.NewRegistry(buildVersion())
	store := config.NewStore(cfg, configFile)
	store.RegisterMetrics(reg)
	store.OnChange(func(c *config.Config) { level.Set(telemetry.ParseLevel(c.Spec.Log.Level)) })
	return &base{config: store, log: log, tracing: tracing, reg: reg}, nil
}

// openRedis opens the one Redis client of the process; go-redis's own
// messages go to the logger, and each command gets a span when tracing is on.
func openRedis(cfg config.Redis, b *base) (*redisx.Client, error) {
	ropts := redisx.Options{Logger: b.log}
	if b.tracing != nil {
		ropts.Tracer = b.tracing.Provider
	}
	rc, err := redisx.Open(cfg, ropts)
	if err != nil {
		return nil, err
	}
	b.log.Info("redis configured", "mode", rc.Mode, "addr", rc.Addr())
	return rc, nil
}

// openDatabase opens the users database, with demo users only where
// config.Database.DemoUsers allows them. The in-memory SQLite is lost on exit,
// which the log says loudly; behind a real Redis it is also private to this
// process while the cache is shared, which the log says louder.
func openDatabase(ctx context.Context, cfg config.Database, embeddedRedis bool, log *slog.Logger) (*usersdb.Store, error) {
	demo := cfg.DemoUsers(embeddedRedis)
	open := cfg
	open.SeedUsers = &demo
	users, err := usersdb.Open(ctx, open, usersdb.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	inMemory := users.Dialect() == usersdb.SQLite && cfg.SQLitePath == ""
	switch {
	case inMemory && embeddedRedis:
		log.Warn("EMBEDDED DATABASE: in-memory SQLite, lost on exit. "+
			"Use PostgreSQL with DATABASE_URL=postgres://user:pass@host:5432/db (or spec.database.url).",
			"demo_users", demo)
	case inMemory:
		log.Warn("EMBEDDED DATABASE: in-memory SQLite, lost on exit and private to this process while Redis is shared: "+
			"other instances on this Redis hold users of their own that this one cannot see, and the shared cache serves them. "+
			"Run one instance only, or use PostgreSQL with DATABASE_URL=postgres://user:pass@host:5432/db (or spec.database.url).",
			"demo_users", demo)
	default:
		log.Info("database configured", "dialect", users.Dialect(), "demo_users", demo)
	}
	if demo > 0 && !(inMemory && embeddedRedis) {
		log.Warn("DEMO USERS: user1..userN with the public password password123, because spec.database.seedUsers asks for them: "+
			"anyone who reaches this server can sign in as them.", "demo_users", demo)
	}
	if cfg.URL != "" && cfg.SeedUsers != nil && *cfg.SeedUsers > 0 {
		log.Warn("spec.database.seedUsers is ignored with a PostgreSQL database: seed it once with redlane db seed",
			"seed_users", *cfg.SeedUsers)
	}
	return users, nil
}

// services are the domain services over Redis and the database: what the
// router serves (Deps) and the session expiry loop, which runs in the run
// group beside the Deps that have a loop of their own (Cache, Chat).
type services struct {
	httpapi.Deps
	sessions *session.Manager
	redis    *redisx.Client
	tracker  *tracking.Tracker
}

// newServices builds the domain services in dependency order, one line each.
func newServices(cfg *config.Config, b *base, rc *redisx.Client, users *usersdb.Store, reload func()) (*services, error) {
	cfgStore, log, reg := b.config, b.log, b.reg
	info := redisx.NewInfoCache(rc, cfg.Spec.Redis.InfoCacheTTL.Duration)
	rc.RegisterMetrics(reg, info)

	// One set of invalidation connections keeps every local copy coherent
	// (the near cache and the sessions register their key prefixes).
	tracker := tracking.New(rc, tracking.Options{Logger: log, Registry: reg, Timeout: cfg.Spec.Redis.CommandTimeout.Duration})
	sessions := session.NewManager(rc, cfgStore, users, session.NewMetrics(reg), log)
	sessions.UseTracker(tracker)
	auth := session.NewAuth(sessions, users, web.ParsePrefixes(cfg.Spec.Server.TrustedProxies))

	locks := lock.New(rc, reg, cfgStore)
	cc := cache.New(rc, cfgStore, cache.Options{Logger: log, Info: info, Registry: reg, Locks: locks, Tracker: tracker})
	if b.tracing != nil {
		cc.UseTracing(b.tracing)
	}
	usersAPI := usersapi.New(cc, users, cfgStore, usersapi.Options{Logger: log, EndSessions: sessions.RevokeAll})
	queues := queue.NewBroker(rc, reg, cfgStore)
	if b.tracing != nil {
		queues.UseTracing(b.tracing)
	}
	queues.RegisterDepth(reg, cfg.Spec.Redis.InfoCacheTTL.Duration)
	schedules := queue.NewScheduler(queues, cfgStore, reg, log)
	boards := leaderboard.New(rc, reg)
	rl := cfg.Spec.RateLimiter
	rlOpts := ratelimit.Options{Timeout: rl.DecisionTimeout.Duration, TripAfter: uint32(rl.BreakerFailures), BreakerOpen: rl.BreakerOpen.Duration, Logger: log}
	limiter := ratelimit.New(rc, reg, rlOpts)

	probes := httpapi.NewProbes(time.Second, func(ctx context.Context) error { return rc.Ping(ctx, time.Second) })
	probes.AddReadiness("redis", func(ctx context.Context) error { return rc.Ping(ctx, time.Second) })
	probes.AddReadiness("database", users.Ping)
	probes.RegisterMetrics(reg)

	// Chat rooms. Sessions.Optional (a router middleware) puts the caller in
	// each request's context, which is how sockets and POSTs know the sender.
	roleOf := func(ctx context.Context, id int64) (string, error) {
		u, err := users.GetUser(ctx, id)
		if err != nil {
			return "", err
		}
		return u.Role, nil
	}
	chat := realtime.New(realtime.Options{Config: cfgStore, Redis: rc, Logger: log, Registry: reg, Limiter: limiter, RoleOf: roleOf, Tracing: b.tracing})
	probes.AddReadiness("realtime", chat.Ready)

	site, err := docs.New(buildVersion())
	if err != nil {
		return nil, err
	}
	return &services{sessions: sessions, redis: rc, tracker: tracker, Deps: httpapi.Deps{
		Config:       cfgStore,
		Cache:        cc,
		UsersAPI:     usersAPI,
		Logger:       log,
		Registry:     reg,
		Tracing:      b.tracing,
		Probes:       probes,
		Reload:       reload,
		DevMode:      rc.Embedded(),
		AdminChecks:  []httpapi.AdminCheck{auth.IsAdmin},
		Sessions:     auth,
		Locks:        locks,
		Queues:       queues,
		RedisInfo:    info,
		Schedules:    schedules,
		Leaderboards: boards,
		Docs:         site,
		RateLimits:   ratelimit.NewService(limiter, cfgStore),
		Chat:         chat,
	}}, nil
}
