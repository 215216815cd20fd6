package leaderboard

import "github.com/redis/go-redis/v9"

// scoreScript writes one member's score to every board in KEYS (all-time
// first, then the periodic ones), atomically. Scores are stored negated
// (keys.go), so "best" keeps the lowest stored value: ZADD LT. An increment
// that would take the score past ±ARGV[4] on any board writes nothing and
// answers the error OUT_OF_RANGE with that board's current score (checked
// before any write, so it is all or nothing).
// ARGV: mode (set|incr|best), member, score, bound, then for each key its
// expiry as a Unix time in ms (0: none).
// Returns, per key, {stored score as a string, 0-based rank}.
var scoreScript = redis.NewScript(`
local mode, member, v, bound = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if mode == 'incr' then
  for _, k in ipairs(KEYS) do
    local cur = tonumber(redis.call('ZSCORE', k, member) or '0')
    if math.abs(cur - v) > bound then
      return redis.error_reply('OUT_OF_RANGE ' .. string.format('%.17g', -cur))
    end
  end
end
local out = {}
for i, k in ipairs(KEYS) do
  if mode == 'set' then
    redis.call('ZADD', k, -v, member)
  elseif mode == 'incr' then
    redis.call('ZINCRBY', k, -v, member)
  else
    redis.call('ZADD', k, 'LT', -v, member)
  end
  local exp = tonumber(ARGV[4 + i])
  if exp > 0 then redis.call('PEXPIREAT', k, exp) end
  out[i] = {redis.call('ZSCORE', k, member), redis.call('ZRANK', k, member)}
end
return out
`)

// topScript reads a page of a board and its size consistently.
// KEYS: board. ARGV: offset, count. Returns {size, {member, stored score}...}.
var topScript = redis.NewScript(`
local off = tonumber(ARGV[1])
return {redis.call('ZCARD', KEYS[1]), redis.call('ZRANGE', KEYS[1], off, off + tonumber(ARGV[2]) - 1, 'WITHSCORES')}
`)

// memberScript reads a member's rank and the members around it.
// KEYS: board. ARGV: member, how many neighbours on each side.
// Returns false when the member is not on the board, else
// {0-based rank, size, first rank of the window, {member, stored score}...}.
var memberScript = redis.NewScript(`
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
if not rank then return false end
local from = math.max(0, rank - tonumber(ARGV[2]))
return {rank, redis.call('ZCARD', KEYS[1]), from, redis.call('ZRANGE', KEYS[1], from, rank + tonumber(ARGV[2]), 'WITHSCORES')}
`)
