// Package tracking keeps process-local copies of Redis keys coherent with
// Redis through server-assisted client-side caching (CLIENT TRACKING): Redis
// tells this process, within a network round trip, that a key it may hold a
// copy of has changed, so a copy is correct until Redis says otherwise.
//
// Mode: RESP2 broadcasting (BCAST) with key prefixes, redirected to the
// tracking connection itself, which is subscribed to __redis__:invalidate.
// One such connection per master (per server outside a Cluster), opened by
// a go-redis client of its own whose OnConnect enables tracking, so a
// reconnect can never leave a connection subscribed but untracked. Why
// BCAST rather than the default or OPTIN mode: those track keys per
// *reading* connection, and every pooled go-redis connection that ever
// reads a cached key would need CLIENT TRACKING ... REDIRECT <id> set, and
// set again each time the invalidation connection is replaced (its id
// changes) — a pool does not expose that. BCAST needs no state on the
// reading connections and no per-key table on the server; the price is
// that every pod hears every write under the prefixes, cached here or not,
// which for user records and sessions (written far less often than read)
// is a few small messages per write.
//
// Coherence rules a consumer relies on:
//   - Live reports whether every master's invalidation connection is
//     confirmed; a local copy may be served only while it is.
//   - When a connection drops, stops answering its keepalive PING, the
//     Cluster's masters change, or Redis sends a flush (a null
//     invalidation: FLUSHALL/FLUSHDB), every handler is flushed whole.
//   - A value read from Redis is installed with Begin before the read and
//     Keep after it: an invalidation of its key, a flush or a loss of
//     tracking in between makes Keep drop it (the "read, invalidation,
//     install" race).
//
// When the server does not know CLIENT TRACKING (the embedded development
// Redis), Supported turns false, the tracker says so once in the log, and
// consumers fall back to their TTL-bounded or uncached paths.
package tracking

import (
	"hash/maphash"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redlane/redlane/internal/redisx"
)

// Handler is a local copy the tracker keeps coherent.
type Handler interface {
	// Invalidate drops these Redis keys (full names, prefix included).
	Invalidate(keys []string)
	// Flush drops everything.
	Flush()
}

// Options tune the tracker; zero values take the defaults in brackets.
type Options struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// PingEvery is the keepalive period of an invalidation connection
	// [500ms]; DeadAfter without any reply it is closed and every copy
	// flushed [1.5s].
	PingEvery, DeadAfter time.Duration
	// TopologyEvery is how often a Cluster's master set is compared with
	// the tracked one [1s].
	TopologyEvery time.Duration
	// Timeout bounds each command of the tracking connections [1s].
	Timeout time.Duration
}

// Tracker owns the invalidation connections. Register handlers and
// prefixes, then Run it.
type Tracker struct {
	rc       *redisx.Client
	o        Options
	log      *slog.Logger
	prefixes []string
	handlers []Handler

	live      atomic.Bool
	supported atomic.Int32 // supUnknown, supYes, supNo
	conns     atomic.Int32 // confirmed invalidation connections
	epoch     atomic.Uint64
	stripes   [stripeCount]atomic.Uint64
	seed      maphash.Seed
	m         *metrics
}

const (
	supUnknown int32 = iota
	supYes
	supNo
)

// stripeCount spreads per-key invalidation counters, so a write to one key
// rarely voids the install of another that is read at the same time.
const stripeCount = 1024

// New returns a tracker over rc's servers.
func New(rc *redisx.Client, o Options) *Tracker {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.PingEvery <= 0 {
		o.PingEvery = 500 * time.Millisecond
	}
	if o.DeadAfter <= 0 {
		o.DeadAfter = 1500 * time.Millisecond
	}
	if o.TopologyEvery <= 0 {
		o.TopologyEvery = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	t := &Tracker{rc: rc, o: o, log: o.Logger, seed: maphash.MakeSeed()}
	t.m = newMetrics(t)
	if o.Registry != nil {
		o.Registry.MustRegister(t.m)
	}
	return t
}

// Track asks for invalidations of every key under prefix (a full Redis key
// prefix, e.g. "redlane:cache:{user:") to go to h. Call before Run.
func (t *Tracker) Track(prefix string, h Handler) {
	t.prefixes = append(t.prefixes, prefix)
	t.handlers = append(t.handlers, h)
}

// Live reports whether local copies may be served: every master's
// invalidation connection is subscribed and answering.
func (t *Tracker) Live() bool { return t.live.Load() }

// Supported reports whether the server knows CLIENT TRACKING; false only
// once a server has refused it.
func (t *Tracker) Supported() bool { return t.supported.Load() != supNo }

// Stamp is what Begin saw, for Keep to compare.
type Stamp struct {
	epoch  uint64
	stripe uint32
	seq    uint64
}

// Begin is called before reading key from Redis with the intent to keep
// the value locally.
func (t *Tracker) Begin(key string) Stamp {
	i := uint32(maphash.String(t.seed, key) % stripeCount)
	return Stamp{epoch: t.epoch.Load(), stripe: i, seq: t.stripes[i].Load()}
}

// Valid reports whether nothing that could have changed the key of st was
// heard since Begin, and tracking is live.
func (t *Tracker) Valid(st Stamp) bool {
	return t.live.Load() && t.epoch.Load() == st.epoch && t.stripes[st.stripe].Load() == st.seq
}

// Keep installs a value read after Begin: put adds it to the local copy;
// if an invalidation of its key, a flush or a loss of tracking came in
// since Begin, it is not added or, when that came in while it was being
// added, removed again. Invalidations bump the stripe before they remove,
// and Keep checks after it adds, so one of the two always sees the other.
func (t *Tracker) Keep(st Stamp, put, remove func()) bool {
	if !t.Valid(st) {
		return false
	}
	put()
	if !t.Valid(st) {
		remove()
		return false
	}
	return true
}

// Changed voids reads of keys in flight in this process, for a consumer
// that just wrote them: call it before dropping them from the local copy,
// so a read of the old value that ends after the write cannot install it
// in the moment before Redis's own report of the write arrives.
func (t *Tracker) Changed(keys ...string) {
	for _, k := range keys {
		t.stripes[maphash.String(t.seed, k)%stripeCount].Add(1)
	}
}

// invalidate applies one invalidation message: nil keys is a flush.
func (t *Tracker) invalidate(keys []string) {
	if keys == nil {
		t.flush("server")
		return
	}
	t.Changed(keys...)
	t.m.invalidations.Add(float64(len(keys)))
	for _, h := range t.handlers {
		h.Invalidate(keys)
	}
}

// flush voids every read in flight and empties every local copy.
func (t *Tracker) flush(reason string) {
	t.epoch.Add(1)
	t.m.flushes.WithLabelValues(reason).Inc()
	for _, h := range t.handlers {
		h.Flush()
	}
}

// setLive switches serving local copies on or off; both ways everything
// is flushed (messages may have been missed while nothing listened).
func (t *Tracker) setLive(live bool, reason string) {
	if !live {
		if !t.live.Swap(false) {
			return
		}
		t.flush(reason)
		return
	}
	t.flush(reason)
	t.live.Store(true)
}
