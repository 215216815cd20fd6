package session

import "github.com/redis/go-redis/v9"

// Every script reads the time from Redis (TIME), so pods with skewed clocks
// agree on expiry. Keys not passed in KEYS are built from a base that carries
// the same hash tag, so they live in the same Cluster slot.

// loginScript creates a session and enforces the per-user cap.
// KEYS[1] session hash, KEYS[2] user index.
// ARGV: sid, idle ms, absolute ms, cap, session key base, then field/value pairs.
// Returns {expires_at_ms, abs_ms, evicted sid...}.
var loginScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local nowUS = t[1] * 1000000 + t[2] -- index order: two logins in one millisecond stay ordered
local sid, idle, absolute, cap, base = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local absAt = now + absolute
local exp = math.min(now + idle, absAt)
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', base .. m) == 0 then redis.call('ZREM', KEYS[2], m) end
end
local fields = {'created', now, 'seen', now, 'abs', absAt}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIREAT', KEYS[1], exp)
redis.call('ZADD', KEYS[2], nowUS, sid)
local out = {exp, absAt}
local n = redis.call('ZCARD', KEYS[2])
if n > cap then
  for _, v in ipairs(redis.call('ZRANGE', KEYS[2], 0, n - cap - 1)) do
    redis.call('DEL', base .. v)
    redis.call('ZREM', KEYS[2], v)
    out[#out + 1] = v
  end
end
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 0 or ttl < absolute then redis.call('PEXPIREAT', KEYS[2], absAt) end
return out
`)

// touchScript slides the idle expiry, never past the absolute one.
// KEYS[1] session hash. ARGV: idle ms. Returns the new expiry (ms), or 0 when
// the session is gone or past its absolute timeout (then it is deleted).
var touchScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local absAt = tonumber(redis.call('HGET', KEYS[1], 'abs'))
if not absAt then return 0 end
if absAt <= now then redis.call('DEL', KEYS[1]) return 0 end
local exp = math.min(now + tonumber(ARGV[1]), absAt)
redis.call('HSET', KEYS[1], 'seen', now)
redis.call('PEXPIREAT', KEYS[1], exp)
return exp
`)

// listScript returns the user's live sessions and prunes dead index entries.
// KEYS[1] user index. ARGV: session key base. Returns {sid, {field, value...}, ...}.
var listScript = redis.NewScript(`
local out = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local h = redis.call('HGETALL', ARGV[1] .. m)
  if #h == 0 then
    redis.call('ZREM', KEYS[1], m)
  else
    out[#out + 1] = m
    out[#out + 1] = h
  end
end
return out
`)

// revokeScript ends sessions of one user.
// KEYS[1] user index. ARGV: session key base, mode ("one" | "others" | "all"), sid.
// "one" ends sid; "others" ends every session but sid; "all" ends every session.
// Returns the ended session ids.
var revokeScript = redis.NewScript(`
local base, mode, sid = ARGV[1], ARGV[2], ARGV[3]
local ended = {}
local members
if mode == 'one' then members = {sid} else members = redis.call('ZRANGE', KEYS[1], 0, -1) end
for _, m in ipairs(members) do
  if not (mode == 'others' and m == sid) then
    local existed = redis.call('DEL', base .. m)
    redis.call('ZREM', KEYS[1], m)
    if existed == 1 then ended[#ended + 1] = m end
  end
end
return ended
`)

// reserveScript takes one login attempt from a failure counter before the
// password is checked, so parallel guesses cannot all pass a check made
// before any of them is counted: of N at once, at most the limit get
// through. The window starts at the first attempt. A login that does not
// fail gives its attempt back (releaseScript).
// KEYS[1] counter. ARGV: limit, window ms.
// Returns {1, ttl ms} when reserved, {0, ttl ms} when the limit is used up.
var reserveScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local ok = 0
if n < tonumber(ARGV[1]) then
  n = redis.call('INCR', KEYS[1])
  ok = 1
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) ttl = tonumber(ARGV[2]) end
return {ok, ttl}
`)

// releaseScript gives back an attempt reserveScript took, for a login that
// succeeded or could not be checked. KEYS[1] counter. Returns the count left.
var releaseScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0
`)

// pruneStatsScript drops expired sessions from the analytics sets.
// KEYS[1] active ZSET, KEYS[2] users ZSET, KEYS[3] meta HASH.
// Returns {active sessions, active users}.
var pruneStatsScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
for _, m in ipairs(gone) do redis.call('HDEL', KEYS[3], m) end
if #gone > 0 then redis.call('ZREM', KEYS[1], unpack(gone)) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])}
`)
