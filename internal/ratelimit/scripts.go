package ratelimit

import "github.com/redis/go-redis/v9"

// gcraScript decides one request with GCRA, keeping only the theoretical
// arrival time (TAT) of the key. Time comes from Redis (TIME), so pods with
// skewed clocks share one exact limit; with effects replication (Redis >= 5,
// the default since 7) the SET is what replicates, not the script.
//
// KEYS: the TAT key. ARGV: emission interval in µs (period/limit, may be
// fractional), capacity (limit+burst).
// Returns {allowed 0|1, remaining, µs until one more request is allowed
// (on a denial: the retry-after), µs until the capacity is full}.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local diff = now - (new_tat - capacity * interval)
if diff < 0 then
  return {0, 0, math.ceil(-diff), math.ceil(tat - now)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
local remaining = math.floor(diff / interval)
return {1, remaining, math.ceil((remaining + 1) * interval - diff), math.ceil(new_tat - now)}
`)
