package session

import (
	"strings"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/redlane/redlane/internal/tracking"
)

// localSessions bounds the sessions a pod keeps in memory (an LRU; a
// session read a second ago by this pod is almost always in it). At a few
// hundred bytes each, 65536 sessions are a few tens of MB at most.
const localSessions = 1 << 16

// local is this pod's copy of session hashes it read, kept coherent by
// Redis tracking: a login, touch, logout, revocation (one, others, all on
// a password change or a deletion), eviction or expiry of a session key
// anywhere makes Redis report the key to every pod, which drops it here
// within a round trip. A copy is used only while the tracker is live:
// without tracking (a server that refuses it, a connection that is down)
// every lookup reads Redis, as before (fail closed). A copy carries the
// session's deadlines, so absolute and idle expiry are checked exactly on
// every use; a lookup that is due to slide the idle expiry (touchInterval)
// goes to Redis, whose write then drops every pod's copy.
type local struct {
	tr    *tracking.Tracker
	cache *lru.Cache[string, *Session]
	hits  atomic.Uint64
}

// newLocal makes the local copy and registers it with tr (before tr runs);
// a nil tr gives a copy that is never used.
func newLocal(tr *tracking.Tracker, prefix string) *local {
	l := &local{tr: tr}
	if tr == nil {
		return l
	}
	l.cache, _ = lru.New[string, *Session](localSessions)
	tr.Track(prefix, l)
	tr.CountHits("session", l.hits.Load)
	return l
}

// get returns the copy of the session at key, if it may be used.
func (l *local) get(key string) (*Session, bool) {
	if l.cache == nil || !l.tr.Live() {
		return nil, false
	}
	return l.cache.Get(key)
}

// begin is called before the session at key is read from Redis.
func (l *local) begin(key string) (tracking.Stamp, bool) {
	if l.cache == nil || !l.tr.Live() {
		return tracking.Stamp{}, false
	}
	return l.tr.Begin(key), true
}

// keep installs s, read from Redis after begin, unless the key changed
// (or tracking was lost) since. s must not be changed afterwards.
func (l *local) keep(st tracking.Stamp, ok bool, key string, s *Session) {
	if !ok {
		return
	}
	l.tr.Keep(st, func() { l.cache.Add(key, s) }, func() { l.cache.Remove(key) })
}

// drop forgets sessions this pod just changed (revoked, evicted, touched)
// at once, without waiting for Redis's report of the write.
func (l *local) drop(keys ...string) {
	if l.cache == nil {
		return
	}
	l.tr.Changed(keys...)
	for _, k := range keys {
		l.cache.Remove(k)
	}
}

// usable reports whether a copy still answers a lookup at now without
// Redis: before both deadlines and before the next touch is due.
func usable(s *Session, now time.Time, idle, touch time.Duration) bool {
	since := now.Sub(s.LastSeenAt)
	return now.Before(s.AbsoluteExpires) && since < idle && since < touch
}

// Invalidate implements tracking.Handler. Keys other than session hashes
// (the per-user index, analytics) share the prefix and are skipped.
func (l *local) Invalidate(keys []string) {
	for _, k := range keys {
		if strings.Contains(k, "}:s:") {
			l.cache.Remove(k)
		}
	}
}

// Flush implements tracking.Handler.
func (l *local) Flush() { l.cache.Purge() }
