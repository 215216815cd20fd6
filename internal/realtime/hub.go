// Package realtime owns Redlane's chat rooms: WebSocket connections, the
// per-instance hub that fans messages out to local members, the shared Redis
// pub/sub subscriptions (sharded in Cluster mode), room history in Redis
// Streams with gap-free resume, presence across instances, the HTTP
// handlers of /ws/chat and /chat/*, and their metrics.
package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/web"
)

// Authenticate turns a WebSocket upgrade request into the caller, nil for
// anonymous. It is how sessions plug in; it must not read tokens from the
// URL (URLs end up in logs).
type Authenticate func(*http.Request) (*web.Principal, error)

// Options are the Hub's dependencies.
type Options struct {
	Config   *config.Store
	Redis    *redisx.Client
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// Authenticate identifies socket users; nil means anonymous only.
	Authenticate Authenticate
}

// Hub is one instance's chat engine: its sockets, their rooms, and the
// shared subscriptions that feed them.
type Hub struct {
	cfg     *config.Store
	rc      *redisx.Client
	keys    keys
	hist    *history
	log     *slog.Logger
	metrics *metrics
	broker  *broker
	auth    Authenticate
	pod     string

	mu       sync.Mutex
	rooms    map[string]*room
	conns    map[*Conn]struct{}
	closing  bool
	handlers sync.WaitGroup // running socket handlers
}

// room is a room with local members. Its mutex is held while messages are
// fanned out, so members get them in the order Redis published them.
type room struct {
	name    string
	ready   chan struct{} // closed once subscribed (or failed)
	once    sync.Once
	err     error
	mu      sync.Mutex
	members map[*Conn]*member
	// lastSeen is the newest message fanned out here; a live message that
	// does not follow it means pub/sub lost some, and history fills in.
	lastSeen streamID
}

// New builds the hub; Run must be running for rooms to work.
func New(o Options) *Hub {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	k := newKeys(o.Redis)
	h := &Hub{
		cfg: o.Config, rc: o.Redis, keys: k, hist: &history{rc: o.Redis, keys: k},
		log: o.Logger, metrics: newMetrics(o.Registry), auth: o.Authenticate,
		pod:   randomID(6),
		rooms: map[string]*room{}, conns: map[*Conn]struct{}{},
	}
	h.broker = newBroker(o.Redis, k, h.pod, o.Logger, h.metrics, h)
	if o.Redis.Embedded() {
		o.Logger.Info("realtime: embedded Redis: plain PUBLISH/SUBSCRIBE (no sharded pub/sub); history, resume and presence work as with a real server")
	}
	return h
}

// Run owns the hub's background work (subscriptions, keepalive pings,
// presence refresh) until ctx is done. Close the sockets first (Shutdown).
func (h *Hub) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); h.broker.run(ctx) }()
	go func() { defer wg.Done(); h.keepalive(ctx) }()
	go func() { defer wg.Done(); h.presenceLoop(ctx) }()
	wg.Wait()
	return nil
}

// Ready is the readiness check: a pub/sub round trip through this
// instance's shared subscription.
func (h *Hub) Ready(ctx context.Context) error {
	return h.broker.check(ctx, randomID(8))
}

// Shutdown closes every socket with 1001 (going away), so clients reconnect
// to another instance and resume, and waits for their handlers (or ctx).
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	conns := make([]*Conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.closeWith(1001, "server shutting down")
	}
	done := make(chan struct{})
	go func() { h.handlers.Wait(); close(done) }()
	select {
	case <-done:
		h.log.Info("realtime: all sockets closed", "count", len(conns))
		return nil
	case <-ctx.Done():
		return fmt.Errorf("closing %d sockets: %w", len(conns), ctx.Err())
	}
}

// keepalive pings every socket each pingInterval from one goroutine, and
// drops sockets that stayed silent (no frame, no pong) for longer than
// pingInterval+pongTimeout, so an idle socket needs no timer of its own.
func (h *Hub) keepalive(ctx context.Context) {
	for {
		rt := h.cfg.Current().Spec.Realtime
		select {
		case <-ctx.Done():
			return
		case <-time.After(rt.PingInterval.Duration):
		}
		h.mu.Lock()
		conns := make([]*Conn, 0, len(h.conns))
		for c := range h.conns {
			conns = append(conns, c)
		}
		h.mu.Unlock()
		now := time.Now()
		limit := rt.PingInterval.Duration + rt.PongTimeout.Duration
		work := make(chan *Conn)
		var wg sync.WaitGroup
		for i := 0; i < pingWorkers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c := range work {
					c.pingNow()
				}
			}()
		}
		for _, c := range conns {
			if c.silentFor(now) > limit {
				c.closeWith(0, "") // the peer is gone; no close frame will reach it
				continue
			}
			work <- c
		}
		close(work)
		wg.Wait()
	}
}

// pingWorkers bounds the goroutines (and stacks) a keepalive sweep uses.
const pingWorkers = 16

// register adds a socket; false when the hub is closing or full.
func (h *Hub) register(c *Conn, max int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return errClosing
	}
	if len(h.conns) >= max {
		return errFull
	}
	h.conns[c] = struct{}{}
	h.handlers.Add(1)
	h.metrics.connections.Inc()
	return nil
}

func (h *Hub) unregister(c *Conn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	h.metrics.connections.Dec()
	h.handlers.Done()
}

var (
	errClosing = errors.New("server is shutting down")
	errFull    = errors.New("too many connections")
)

func (h *Hub) room(name string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[name]
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
