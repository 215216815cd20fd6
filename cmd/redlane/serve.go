package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

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
	"github.com/redlane/redlane/internal/web"
)

type serveFlags struct {
	configFile     string
	address        string
	envFile        string
	reloadInterval time.Duration
}

func newServeCommand(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP/WebSocket server",
		Long: `Run the HTTP/WebSocket server (default :8000).

With no Redis configured (no REDIS_URL, spec.redis.url, host or addrs) an embedded
in-process Redis is started for development; it says so in the log.
Configuration: a RedlaneConfig file (--config or REDLANE_CONFIG), then environment
variables and ./.env, then defaults. The file is watched and safe settings reload live.`,
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
	cmd.Flags().StringVar(&f.envFile, "env-file", ".env", "KEY=VALUE file read into the environment if it exists")
	cmd.Flags().DurationVar(&f.reloadInterval, "reload-interval", 2*time.Second, "how often the config and env files are checked for changes")
	_ = stdout
	return cmd
}

// serve reads like the program: config, telemetry, Redis, HTTP, then wait
// for a signal and shut down in reverse order.
func serve(ctx context.Context, f serveFlags, getenv func(string) string, stderr io.Writer) error {
	env, err := config.WithDotEnv(getenv, f.envFile)
	if err != nil {
		return err
	}
	load := func() (*config.Config, error) {
		c, err := config.Load(f.configFile, env)
		if err == nil && f.address != "" {
			c.Spec.Server.Address = f.address
			err = config.Validate(c)
		}
		return c, err
	}
	watcher := &config.Watcher{Interval: f.reloadInterval, Load: load}
	for _, p := range []string{f.configFile, f.envFile} {
		if p != "" {
			watcher.Paths = append(watcher.Paths, p)
		}
	}
	watcher.Prime() // before the first load, so no change slips between the two
	cfg, err := load()
	if err != nil {
		return reportConfigErrors(stderr, "invalid configuration, ", err)
	}

	level := new(slog.LevelVar)
	level.Set(telemetry.ParseLevel(cfg.Spec.Log.Level))
	log := telemetry.NewLogger(stderr, cfg.Spec.Log.Format, level)
	log.Info("starting redlane", "version", buildVersion(), "config", f.configFile)

	tracing, err := telemetry.SetupTracing(ctx, env, buildVersion())
	if err != nil {
		return err
	}
	defer shutdownWithin(5*time.Second, tracing.Shutdown)

	reg := telemetry.NewRegistry(buildVersion())
	cfgStore := config.NewStore(cfg, f.configFile)
	cfgStore.RegisterMetrics(reg)
	cfgStore.OnChange(func(c *config.Config) { level.Set(telemetry.ParseLevel(c.Spec.Log.Level)) })

	ropts := redisx.Options{Logger: log}
	if tracing != nil {
		ropts.Tracer = tracing.Provider
	}
	rc, err := redisx.Open(cfg.Spec.Redis, ropts)
	if err != nil {
		return err
	}
	defer rc.Close()
	log.Info("redis configured", "mode", rc.Mode, "addr", rc.Addr())
	info := redisx.NewInfoCache(rc, cfg.Spec.Redis.InfoCacheTTL.Duration)
	rc.RegisterMetrics(reg, info)

	users, err := usersdb.Open(ctx, cfg.Spec.Database, usersdb.Options{Logger: log})
	if err != nil {
		return err
	}
	defer users.Close()
	if users.Dialect() == usersdb.SQLite && cfg.Spec.Database.SQLitePath == "" {
		log.Warn("EMBEDDED DATABASE: in-memory SQLite, lost on exit, with demo users (user1/password123). "+
			"Use PostgreSQL with DATABASE_URL=postgres://user:pass@host:5432/db (or spec.database.url).",
			"seed_users", *cfg.Spec.Database.SeedUsers)
	} else {
		log.Info("database configured", "dialect", users.Dialect())
	}

	sessions := session.NewManager(rc, cfgStore, users, session.NewMetrics(reg), log)
	auth := session.NewAuth(sessions, users, web.ParsePrefixes(cfg.Spec.Server.TrustedProxies))

	locks := lock.New(rc, reg)
	cc := cache.New(rc, cfgStore, cache.Options{Logger: log, Info: info, Registry: reg, Locks: locks})
	usersAPI := cache.NewUsersAPI(cc, users)
	usersAPI.EndSessions = sessions.RevokeAll
	queues := queue.NewBroker(rc, reg)
	queues.RegisterDepth(reg, cfg.Spec.Redis.InfoCacheTTL.Duration)
	boards := leaderboard.New(rc, reg)
	rl := cfg.Spec.RateLimiter
	rlOpts := ratelimit.Options{Timeout: rl.DecisionTimeout.Duration, TripAfter: uint32(rl.BreakerFailures), BreakerOpen: rl.BreakerOpen.Duration, Logger: log}
	limiter := ratelimit.New(rc, reg, rlOpts)

	probes := httpapi.NewProbes(time.Second)
	probes.AddReadiness("redis", func(ctx context.Context) error { return rc.Ping(ctx, time.Second) })
	probes.AddReadiness("database", users.Ping)
	probes.RegisterMetrics(reg)

	// Chat rooms: the hub runs until its sockets are closed at shutdown, on
	// its own context, so members keep getting messages while draining.
	// Sessions.Optional (a router middleware) puts the caller in each
	// request's context, which is how sockets and POSTs know the sender.
	chat := realtime.New(realtime.Options{Config: cfgStore, Redis: rc, Logger: log, Registry: reg})
	probes.AddReadiness("realtime", chat.Ready)
	chatCtx, stopChat := context.WithCancel(context.WithoutCancel(ctx))
	defer stopChat()

	watcher.Store, watcher.Log = cfgStore, log

	site, err := docs.New(buildVersion())
	if err != nil {
		return err
	}

	handler := httpapi.NewServer(httpapi.Deps{
		Config:       cfgStore,
		Redis:        rc,
		Users:        users,
		Cache:        cc,
		UsersAPI:     usersAPI,
		Logger:       log,
		Registry:     reg,
		Tracing:      tracing,
		Probes:       probes,
		Reload:       watcher.Reload,
		DevMode:      rc.Embedded(),
		AdminChecks:  []httpapi.AdminCheck{auth.IsAdmin},
		Sessions:     auth,
		Locks:        locks,
		Queues:       queues,
		Leaderboards: boards,
		Docs:         site,
		RateLimit:    ratelimit.Middleware(limiter, ratelimit.NewPolicies(cfgStore)),
		Chat:         chat,
	})
	sc := cfg.Spec.Server
	srv := &http.Server{
		Handler:           handler,
		ReadTimeout:       sc.ReadTimeout.Duration,
		ReadHeaderTimeout: sc.ReadHeaderTimeout.Duration,
		WriteTimeout:      sc.WriteTimeout.Duration,
		IdleTimeout:       sc.IdleTimeout.Duration,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := net.Listen("tcp", sc.Address)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", sc.Address, err)
	}
	log.Info("listening", "addr", ln.Addr().String(), "redis_mode", rc.Mode)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error { return sessions.Run(gctx, 15*time.Second) })
	g.Go(func() error { return chat.Run(chatCtx) })
	g.Go(func() error { return cc.Run(gctx) })
	if len(watcher.Paths) > 0 {
		g.Go(func() error { return watcher.Run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down: readiness off, draining", "drain_delay", sc.DrainDelay.String())
		probes.SetDraining()
		time.Sleep(sc.DrainDelay.Duration)
		sctx, cancel := context.WithTimeout(context.Background(), sc.ShutdownTimeout.Duration)
		defer cancel()
		// Hijacked WebSockets are not tracked by srv.Shutdown: close them
		// with 1001 so clients reconnect to another instance and resume.
		if err := chat.Shutdown(sctx); err != nil {
			log.Warn("chat sockets still open at shutdown deadline", "error", err.Error())
		}
		stopChat()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("in-flight requests cut off at shutdown deadline", "error", err.Error())
			_ = srv.Close()
		}
		return nil
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}

// shutdownWithin runs fn with a deadline, for deferred cleanups.
func shutdownWithin(d time.Duration, fn func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_ = fn(ctx)
}
