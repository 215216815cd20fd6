package cache

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// near is the optional in-process cache in front of Redis: a bounded LRU
// (hashicorp/golang-lru, no background goroutine) whose entries expire
// after spec.cache.near.ttl at the latest, and at the entry's freshness end.
//
// Invalidation: a write removes the key here at once and publishes it on
// the invalidation channel, so every other pod drops it when the message
// arrives (milliseconds). The near cache is used only while this pod's
// subscription to that channel is known to work (live): it is emptied and
// bypassed from the moment the subscription fails (a read error, or no
// answer to its keepalive PING) until a new one is confirmed, so a write
// made meanwhile, whose message this pod never heard, is never served
// stale from memory. near.ttl bounds the rest (a message lost in flight).
type near struct {
	mu   sync.Mutex // serialises replacing the LRU when the size is reloaded
	cur  atomic.Pointer[sizedLRU]
	live atomic.Bool // the invalidation subscription is confirmed and answering
	// seq counts invalidations heard; a value read from Redis is put into
	// the near cache only if no invalidation arrived while it was read.
	seq atomic.Uint64
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
	if !n.live.Load() {
		return nil, false
	}
	v, ok := n.cache(size).Get(key)
	if !ok || now.After(v.expires) {
		return nil, false
	}
	return v, true
}

// put stores e, with etag (e.etag() as a header value), until
// min(now+ttl, e's freshness end), unless an invalidation was heard since
// seq was read.
func (n *near) put(size int, key nearKey, e entry, etag []string, ttl time.Duration, seq uint64) {
	now := time.Now()
	exp := now.Add(ttl)
	if e.freshUntil.Before(exp) {
		exp = e.freshUntil
	}
	if n.seq.Load() != seq || !now.Before(exp) || !n.live.Load() {
		return
	}
	n.cache(size).Add(key, &nearEntry{e: e, etag: etag, expires: exp})
}

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
