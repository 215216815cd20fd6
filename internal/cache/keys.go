package cache

import "strings"

// Redis keys owned by this package. <p> is spec.redis.keyPrefix ("redlane:").
// The warm job's lease is the internal/lock lock "cache-warm" (keys of the
// lock package).
//
// Every entry key puts its whole logical key in a hash tag, so an entry and
// its lease live in one Cluster slot and are deleted together atomically,
// while different entries spread over all slots.
//
//	<p>cache:{<ns>:<id>}          STRING  entry: header + body (entry.go). TTL = namespace TTL
//	                                      + jitter + staleTTL (negative entries: negativeTTL).
//	                                      Written only by the fill script; deleted by invalidate/clear.
//	<p>cache:{<ns>:<id>}:lease    STRING  random token of the caller loading the entry, then " " and its
//	                                      traceparent when tracing is on (tracing.go); PX leaseTTL.
//	                                      Written with SET NX; deleted by the fill script (same token)
//	                                      and by invalidate, which makes an in-flight fill a no-op.
//	<p>cache:{resp:<group>}:gen   STRING  generation of a response group; INCR on invalidation, no TTL
//	                                      needed (one small key per group); refreshed PEXPIRE 30d.
//	<p>cache:{resp:<group>}:<h>   STRING  cached response for request hash h; same slot as :gen, so
//	                                      one MGET reads both. TTL = the group's ttl.
//	<p>cache:stats                HASH    all-pods counters "<ns>.<counter>", HINCRBY by each pod every
//	                                      statsFlushInterval; PEXPIRE 30d refreshed on each flush.
//	<p>cache:warm:status          HASH    progress of the last warm job; PEXPIRE 1d.
//	<p>cache:invalidate           pub/sub channel: logical keys (newline separated) or "*" for all,
//	                                      telling every pod to drop them from its near cache (the
//	                                      fallback when the server does not support tracking).
//
// Tracked: every key under <p>cache:{ is a prefix of Redis tracking
// (internal/tracking, broadcast mode), so any change of an entry, by any
// client, an expiry or an eviction, is reported to every pod's near cache.
const (
	leaseSuffix = ":lease"
)

// keys builds Redis key names under the client's prefix.
type keys struct{ prefix string }

func (k keys) base() string { return k.prefix + "cache:" }

// entry is the key of a logical key such as "user:1".
func (k keys) entry(logical string) string { return k.prefix + "cache:{" + logical + "}" }

func (k keys) lease(logical string) string { return k.entry(logical) + leaseSuffix }

func (k keys) stats() string        { return k.prefix + "cache:stats" }
func (k keys) warmStatus() string   { return k.prefix + "cache:warm:status" }
func (k keys) invalidation() string { return k.prefix + "cache:invalidate" }

// respGen and respEntry are the response-cache keys of group.
func (k keys) respGen(group string) string { return k.entry("resp:"+group) + ":gen" }
func (k keys) respEntry(group, hash string) string {
	return k.entry("resp:"+group) + ":" + hash
}

// logical turns a Redis key back into its logical key ("user:1",
// "resp:users-list"), or "" for keys that are not cache entries.
func (k keys) logical(redisKey string) string {
	rest, ok := strings.CutPrefix(redisKey, k.prefix+"cache:{")
	if !ok {
		return ""
	}
	end := strings.IndexByte(rest, '}')
	if end < 0 {
		return ""
	}
	return rest[:end]
}

// pattern is the SCAN pattern for a logical pattern such as "user:*"; the
// trailing "}*" also matches the entry's lease and a group's members.
func (k keys) pattern(logicalPattern string) string {
	return k.prefix + "cache:{" + logicalPattern + "}*"
}

// namespaceOf is the part of a logical key before its first ':'.
func namespaceOf(logical string) string {
	ns, _, _ := strings.Cut(logical, ":")
	return ns
}
