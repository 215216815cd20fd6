package cache

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/redlane/redlane/internal/tracking"
)

// near is the optional in-process cache in front of Redis: a bounded LRU
// (hashicorp/golang-lru, no background goroutine).
//
// With Redis tracking (internal/tracking, Redis 6+), Redis itself reports
// every change of an entry key to every pod within a round trip, whoever
// wrote it (a write here, another pod, an expiry, an eviction, a clear):
// entries live until their freshness end, and the near cache is served
// only while the tracker is live; a tracking connection that fails
// empties it and it is bypassed until tracking is back. Values read from
// Redis are installed through the tracker's guard (tracking.Keep), so a
// read that raced a write never installs the old value.
//
// Without tracking (a server that refuses it, e.g. the embedded Redis):
// a write removes the key here at once and publishes it on the
// invalidation channel, so every other pod drops it when the message
// arrives (milliseconds); the near cache is used only while this pod's
// subscription to that channel is known to work (live), and an entry is
// served at most spec.cache.near.ttl after it was read (a message lost in
// flight).
type near struct {
	mu   sync.Mutex // serialises replacing the LRU when the size is reloaded
	cur  atomic.Pointer[sizedLRU]
	live atomic.Bool // the invalidation subscription is confirmed and answering
	// seq counts invalidations heard on the channel; without tracking a
	// value read from Redis is put into the near cache only if no
	// invalidation arrived while it was read.
	seq atomic.Uint64
	tr  *tracking.Tracker // nil: no tracking (tests of the channel path)
	k   keys
}

// tracked reports whether the tracker decides: it is set and the server
// has not refused tracking (while unknown, Live is false: nothing served).
func (n *near) tracked() bool { return n.tr != nil && n.tr.Supported() }

// trackingState is the near cache's coherence mechanism, for /cache/stats.
func (n *near) trackingState() string {
	switch {
	case n.tr == nil:
		return "off"
	case !n.tr.Supported():
		return "unsupported"
	case n.tr.Live():
		return "live"
	}
	return "down"
}

// usable reports whether entries may be served now.
func (n *near) usable() bool {
	if n.tracked() {
		return n.tr.Live()
	}
	return n.live.Load()
}

// ticket is taken before an entry is read from Redis; put installs the
// value only if nothing that could have changed it was heard since.
type ticket struct {
	seq     uint64
	st      tracking.Stamp
	tracked bool
}

// begin takes the ticket of a read of Redis key redisKey.
func (n *near) begin(redisKey string) ticket {
	tk := ticket{seq: n.seq.Load()}
	if n.tracked() {
		tk.tracked, tk.st = true, n.tr.Begin(redisKey)
	}
	return tk
}

type sizedLRU struct {
	*lru.Cache[nearKey, *nearEntry]
	size int
}

// nearKey is a logical key split in two, so a lookup needs no string
// concatenation.
type nearKey struct{ ns, id string }

func nearKeyOf(logical string) nearKey {
	ns, id, _ := strings.Cut(logical, ":")
	return nearKey{ns, id}
}

type nearEntry struct {
	e       entry
	etag    []string // ready to be a header value
	expires time.Time
}

// cache returns the LRU for size, replacing it (empty) when size changed.
func (n *near) cache(size int) *sizedLRU {
	if c := n.cur.Load(); c != nil && c.size == size {
		return c
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.cur.Load(); c != nil && c.size == size {
		return c
	}
	l, _ := lru.New[nearKey, *nearEntry](max(size, 1))
	c := &sizedLRU{Cache: l, size: size}
	n.cur.Store(c)
	return c
}

func (n *near) get(size int, key nearKey, now time.Time) (*nearEntry, bool) {
	if !n.usable() {
		return nil, false
	}
	v, ok := n.cache(size).Get(key)
	if !ok || now.After(v.expires) {
		return nil, false
	}
	return v, true
}

// put stores e, with etag (e.etag() as a header value), unless something
// that could have changed it was heard since tk was taken: until e's
// freshness end with tracking, else until min(now+ttl, freshness end).
func (n *near) put(size int, key nearKey, e entry, etag []string, ttl time.Duration, tk ticket) {
	now := time.Now()
	exp := e.freshUntil
	if bound := now.Add(ttl); !tk.tracked && bound.Before(exp) {
		exp = bound
	}
	if !now.Before(exp) {
		return
	}
	c := n.cache(size)
	ne := &nearEntry{e: e, etag: etag, expires: exp}
	if tk.tracked {
		n.tr.Keep(tk.st, func() { c.Add(key, ne) }, func() { c.Remove(key) })
		return
	}
	if n.seq.Load() != tk.seq || !n.live.Load() {
		return
	}
	c.Add(key, ne)
}

// changed voids tracked reads in flight of logical keys this pod wrote.
func (n *near) changed(logicals []string) {
	if n.tr == nil {
		return
	}
	for _, l := range logicals {
		n.tr.Changed(n.k.entry(l))
	}
}

// Invalidate implements tracking.Handler: Redis reports entry keys changed.
func (n *near) Invalidate(redisKeys []string) {
	c := n.cur.Load()
	if c == nil {
		return
	}
	for _, rk := range redisKeys {
		if strings.HasSuffix(rk, leaseSuffix) {
			continue // a lease is not an entry; its entry is absent or changes on its own
		}
		if l := n.k.logical(rk); l != "" {
			c.Remove(nearKeyOf(l))
		}
	}
}

// Flush implements tracking.Handler: everything may have changed.
func (n *near) Flush() { n.invalidate([]string{"*"}) }

// setLive starts (a subscription was just confirmed) or stops using the
// near cache; either way it is emptied, since messages may have been missed.
func (n *near) setLive(live bool) {
	if !live {
		n.live.Store(false)
	}
	n.invalidate([]string{"*"})
	if live {
		n.live.Store(true)
	}
}

// invalidate drops keys ("*" drops everything).
func (n *near) invalidate(keys []string) {
	n.seq.Add(1)
	c := n.cur.Load()
	if c == nil {
		return
	}
	for _, k := range keys {
		if k == "*" {
			c.Purge()
			return
		}
		c.Remove(nearKeyOf(k))
	}
}

func (n *near) len() int {
	if c := n.cur.Load(); c != nil {
		return c.Len()
	}
	return 0
}
