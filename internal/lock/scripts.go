package lock

import "github.com/redis/go-redis/v9"

// acquireScript takes the lease if it is free: it bumps the fence counter
// and stores token and fence with the TTL in one step, so no two callers
// can both see "free", and fences follow acquisition order.
// KEYS: lease, fence. ARGV: token, ttl ms.
// Returns {1, fence} on success or {0, remaining ms of the holder}.
var acquireScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('PTTL', KEYS[1])}
end
local fence = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'fence', fence)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, fence}
`)

// extendScript resets the TTL only when token still holds the lease.
// KEYS: lease. ARGV: token, ttl ms. Returns the fence, or -1 if not held.
var extendScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return -1
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return tonumber(redis.call('HGET', KEYS[1], 'fence'))
`)

// releaseScript deletes the lease only when token holds it.
// KEYS: lease. ARGV: token. Returns 1 when released, 0 if not held.
var releaseScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return 0
end
return redis.call('DEL', KEYS[1])
`)

// inspectScript reads fence and remaining TTL consistently.
// KEYS: lease. Returns {0} when free, else {1, fence, ttl ms}.
var inspectScript = redis.NewScript(`
local fence = redis.call('HGET', KEYS[1], 'fence')
if not fence then
  return {0}
end
return {1, tonumber(fence), redis.call('PTTL', KEYS[1])}
`)
