// Package realtime serves Redlane's chat rooms over WebSocket, Server-Sent
// Events and HTTP, so that every member of a room, on any instance, gets
// each message in publish order or an explicit gap frame saying what it
// missed.
//
// A message's path through the files: Publish (hub.go) appends it to the
// room's history stream and publishes it in one Redis step (history.go runs
// the script of scripts.go on the keys of keys.go). On every instance
// holding members of the room, the broker's subscription for that Redis
// shard (broker.go, shard.go, shardconn.go) reads it and hands it to its room, whose
// members room.go keeps; continuity.go checks that its stream id follows
// the last one fanned out (streamid.go), fills any hole from history or
// reports a gap, and queues one prebuilt frame (message.go, frame.go) to
// each member's socket (conn.go), which the hub's write workers write
// without blocking (writers.go, directwrite.go). Sockets are opened in socket.go, speak the frames of
// protocol.go and are pinged by keepalive.go; sse.go serves the same
// connection as an event stream; policy.go enforces the room access
// policies (compiled by the access package) on every entry point;
// presence.go records who is where, handlers.go serves /chat/*, metrics.go
// counts it all.
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
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/ratelimit"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/telemetry"
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
	// Limiter decides the per-sender publish rate on Redis; nil leaves
	// only the per-connection one.
	Limiter *ratelimit.Limiter
	// Tracing starts the publish and fan-out spans; nil: tracing is off.
	Tracing *telemetry.Tracing
	// RoleOf looks up a user's role for room policies with role: entries
	// (sessions carry the user, not the role); nil: roles are unknown, and
	// no role: entry admits anyone.
	RoleOf func(ctx context.Context, userID int64) (string, error)
}

// Hub is one instance's chat engine: its sockets, their rooms, and the
// shared subscriptions that feed them. This file holds its lifecycle (New,
// Run, Ready, Shutdown) and Publish; Rooms and Presence read the presence
// sets beside the code that writes them (presence.go), and the endpoints
// are the Handle methods of handlers.go and socket.go.
type Hub struct {
	cfg     *config.Store
	rc      *redisx.Client
	keys    keys
	hist    *history
	log     *slog.Logger
	metrics *metrics
	broker  *broker
	auth    Authenticate
	limiter *ratelimit.Limiter
	roleOf  func(ctx context.Context, userID int64) (string, error)
	tracer  trace.Tracer // nil when tracing is off
	pod     string
	// compiled caches the room policies of the configuration in effect.
	compiled atomic.Pointer[compiledPolicies]
	// readAfter reads history for catch-up: hist.after, replaced by tests
	// that make reads fail.
	readAfter func(ctx context.Context, room string, since streamID, count int64) ([]*envelope, error)

	// ready holds sockets with a frame to write, for the write workers
	// (writers.go), which take them while writersOn (guarded by writersMu).
	ready     chan []*Conn
	batches   sync.Pool // *writeBatch, one per fan-out in progress
	writersMu sync.RWMutex
	writersOn bool

	mu       sync.Mutex
	rooms    map[string]*localRoom
	conns    map[*Conn]struct{}
	closing  bool
	handlers sync.WaitGroup // running socket handlers
}

// New builds the hub; Run must be running for rooms to work.
func New(o Options) *Hub {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	k := newKeys(o.Redis)
	h := &Hub{
		cfg: o.Config, rc: o.Redis, keys: k, hist: &history{rc: o.Redis, keys: k},
		log: o.Logger, metrics: newMetrics(o.Registry), auth: o.Authenticate, limiter: o.Limiter, roleOf: o.RoleOf,
		tracer: o.Tracing.Tracer("github.com/redlane/redlane/internal/realtime"),
		pod:    randomID(6),
		rooms:  map[string]*localRoom{}, conns: map[*Conn]struct{}{},
		ready: make(chan []*Conn, readyQueue),
	}
	h.batches.New = func() any { return &writeBatch{} }
	h.readAfter = h.hist.after
	// A policy change applies to connections already in rooms.
	o.Config.OnChange(func(*config.Config) { h.enforcePolicies() })
	h.broker = newBroker(o.Redis, k, h.pod, o.Logger, h.metrics, h)
	if o.Redis.Embedded() {
		o.Logger.Info("realtime: embedded Redis: plain PUBLISH/SUBSCRIBE (no sharded pub/sub); history, resume and presence work as with a real server")
	}
	return h
}

// Run owns the hub's background work (subscriptions, keepalive pings,
// presence refresh, the write workers) until ctx is done. Close the sockets
// first (Shutdown).
func (h *Hub) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); h.runWriters(ctx) }()
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

// Publish sends text to room as sender: one atomic Redis step that appends
// to history and publishes. A repeated idempotency key returns the first
// message's id and publishes nothing.
func (h *Hub) Publish(ctx context.Context, room, sender, text, idemKey, via string) (published, error) {
	ctx, span, tp := h.startPublish(ctx, room, via)
	res, err := h.hist.publish(ctx, h.cfg.Current().Spec.Realtime, room, sender, text, idemKey, tp)
	endPublish(span, res, err)
	if err == nil && !res.Duplicate {
		h.metrics.published.WithLabelValues(via).Inc()
	}
	return res, err
}

// register adds a socket: errClosing or errFull when it may not open.
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
	h.metrics.connections.WithLabelValues(c.transport()).Inc()
	return nil
}

// unregister removes a socket whose handler has finished.
func (h *Hub) unregister(c *Conn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	h.metrics.connections.WithLabelValues(c.transport()).Dec()
	h.handlers.Done()
}

var (
	errClosing = errors.New("server is shutting down")
	errFull    = errors.New("too many connections")
)

// randomID is n random bytes in hex: the ids of instances and sockets.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
