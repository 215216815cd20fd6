package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/httpapi"
)

// httpServer is a server with the socket it serves, opened before the run
// group starts so that a taken port fails serve at once.
type httpServer struct {
	name string
	srv  *http.Server
	ln   net.Listener
}

// listen builds the API server over the services and opens its socket, and
// the profiling server's when --pprof-address is set; the API server comes
// first, as shutdown expects.
func listen(ctx context.Context, sc config.Server, pprofAddr string, svc *services) ([]httpServer, error) {
	log := svc.Logger
	api := &http.Server{
		Handler:           httpapi.NewServer(svc.Deps),
		ReadTimeout:       sc.ReadTimeout.Duration,
		ReadHeaderTimeout: sc.ReadHeaderTimeout.Duration,
		WriteTimeout:      sc.WriteTimeout.Duration,
		IdleTimeout:       sc.IdleTimeout.Duration,
		MaxHeaderBytes:    httpapi.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	addr := sc.Address
	if svc.DevMode {
		addr = devAddress(addr, svc.Config.Current().Spec.Security.AdminToken != "", log)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	log.Info("listening", "addr", ln.Addr().String(), "redis_mode", svc.redis.Mode)
	servers := []httpServer{{name: "http server", srv: api, ln: ln}}
	if pprofAddr == "" {
		return servers, nil
	}
	pln, err := net.Listen("tcp", pprofAddr)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("--pprof-address %s: %w", pprofAddr, err)
	}
	log.Info("profiling endpoints listening", "addr", pln.Addr().String(), "path", "/debug/pprof/")
	return append(servers, httpServer{name: "pprof server", srv: newPprofServer(log), ln: pln}), nil
}

// devAddress keeps the development mode private: its data is throwaway and
// its admin endpoints may be open, so an address without a host (":8000",
// every interface) becomes loopback. A host given on purpose (0.0.0.0:8000)
// is kept. It says which, and whether admin is open.
func devAddress(addr string, adminToken bool, log *slog.Logger) string {
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		addr = net.JoinHostPort("127.0.0.1", port)
		log.Warn("DEVELOPMENT MODE: listening on loopback only; give a host to listen elsewhere, e.g. --address 0.0.0.0:"+port, "addr", addr)
	}
	if adminToken {
		log.Info("development mode: admin endpoints require the admin token (spec.security.adminToken / ADMIN_TOKEN)")
	} else {
		log.Warn("DEVELOPMENT MODE: admin endpoints are OPEN to anyone who reaches " + addr + " (no admin token set; set ADMIN_TOKEN to require one)")
	}
	return addr
}

// runGroup runs every long-lived part until ctx ends or one of them fails,
// then drains: readiness off, the drain delay, chat sockets closed, and the
// HTTP servers shut down within the shutdown timeout.
func runGroup(ctx context.Context, sc config.Server, log *slog.Logger, svc *services, watcher *config.Watcher, servers []httpServer) error {
	// The chat hub runs until its sockets are closed at shutdown, on its own
	// context, so members keep getting messages while the server drains.
	chatCtx, stopChat := context.WithCancel(context.WithoutCancel(ctx))
	defer stopChat()

	g, gctx := errgroup.WithContext(ctx)
	for _, s := range servers {
		g.Go(func() error {
			if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			return nil
		})
	}
	g.Go(func() error { return svc.sessions.Run(gctx, 15*time.Second) })
	g.Go(func() error { return svc.Chat.Run(chatCtx) })
	g.Go(func() error { return svc.Cache.Run(gctx) })
	g.Go(func() error { return svc.tracker.Run(gctx) })
	g.Go(func() error { return svc.Schedules.Run(gctx) })
	if len(watcher.Paths) > 0 {
		g.Go(func() error { return watcher.Run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down: readiness off, draining", "drain_delay", sc.DrainDelay.String())
		svc.Probes.SetDraining()
		time.Sleep(sc.DrainDelay.Duration)
		sctx, cancel := context.WithTimeout(context.Background(), sc.ShutdownTimeout.Duration)
		defer cancel()
		// Hijacked WebSockets are not tracked by Shutdown: close them with
		// 1001 so clients reconnect to another instance and resume.
		if err := svc.Chat.Shutdown(sctx); err != nil {
			log.Warn("chat sockets still open at shutdown deadline", "error", err.Error())
		}
		stopChat()
		for _, s := range servers {
			if err := s.srv.Shutdown(sctx); err != nil {
				log.Warn("in-flight requests cut off at shutdown deadline", "server", s.name, "error", err.Error())
				_ = s.srv.Close()
			}
		}
		return nil
	})
	return g.Wait()
}

// shutdownWithin runs fn with a deadline, for deferred cleanups.
func shutdownWithin(d time.Duration, fn func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_ = fn(ctx)
}
