package session

import "github.com/redlane/redlane/internal/redisx"

// Redis keys owned by this package (P is spec.redis.keyPrefix):
//
//	P sess:{<tag>}:s:<sid>   HASH   one session: uid, user, created, seen, abs (ms since epoch), ip, ua,
//	                                device, family, os. PEXPIREAT = min(last seen + idle timeout, abs).
//	                                Written by the login/touch/revoke scripts only.
//	P sess:{<tag>}:idx       ZSET   the user's session ids scored by creation time (µs); pruned of
//	                                sessions whose hash has expired by every script that reads it.
//	                                PEXPIREAT = the newest session's absolute expiry.
//	P sess:fail:{u:<h>}      STRING failed logins for a username (h = hex SHA-256 of the lower-cased name),
//	                                TTL = the login-limit window from the first failure.
//	P sess:fail:{ip:<ip>}    STRING failed logins from a client IP, same TTL.
//	P sess:{stats}:active    ZSET   every live session id scored by its current expiry, for analytics.
//	P sess:{stats}:users     ZSET   user ids scored by their latest session expiry.
//	P sess:{stats}:meta      HASH   session id -> "device|family" for active sessions.
//	P sess:{stats}:ev:<day>  HASH   "<event>:<HHMM>" -> count per minute (login, failed); TTL 8 days.
//
// Tracked: every key under P sess:{ is a prefix of Redis tracking
// (internal/tracking, broadcast mode): a change of a session hash anywhere
// drops every pod's local copy of it (local.go).
//
// Cluster safety: all keys of one user share the hash tag {<tag>}, so login,
// listing and revocation are single-slot scripts. Analytics keys share {stats}
// and are updated in a second, best-effort round trip (they are counts, not
// security state). The failure counters are one key per script call.
type keys struct{ c *redisx.Client }

// trackedPrefix covers every per-user key, session hashes among them, and
// the analytics keys ({stats}), which Redis tracking cannot tell apart by
// prefix: a tag can begin with the same letters.
func (k keys) trackedPrefix() string { return k.c.Key("sess", "{") }

func (k keys) session(tag, sid string) string { return k.c.Key("sess", "{"+tag+"}", "s", sid) }
func (k keys) sessionBase(tag string) string  { return k.c.Key("sess", "{"+tag+"}", "s", "") }
func (k keys) index(tag string) string        { return k.c.Key("sess", "{"+tag+"}", "idx") }
func (k keys) failUser(h string) string       { return k.c.Key("sess", "fail", "{u:"+h+"}") }
func (k keys) failIP(ip string) string        { return k.c.Key("sess", "fail", "{ip:"+ip+"}") }
func (k keys) statsActive() string            { return k.c.Key("sess", "{stats}", "active") }
func (k keys) statsUsers() string             { return k.c.Key("sess", "{stats}", "users") }
func (k keys) statsMeta() string              { return k.c.Key("sess", "{stats}", "meta") }
func (k keys) statsEvents(day string) string  { return k.c.Key("sess", "{stats}", "ev", day) }
