package leaderboard

import "github.com/redis/go-redis/v9"

// scoreScript writes one member's score to every board in KEYS (all-time
// first, then the periodic ones), atomically. Scores are stored negated
// (keys.go), so "best" keeps the lowest stored value: ZADD LT.
// ARGV: mode (set|incr|best), member, score, then for each key its expiry
// as a Unix time in ms (0: none).
// Returns, per key, {stored score as a string, 0-based rank}.
var scoreScript = redis.NewScript(`
local mode, member, v = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for i, k in ipairs(KEYS) do
  if mode == 'set' then
    redis.call('ZADD', k, -v, member)
  elseif mode == 'incr' then
    redis.call('ZINCRBY', k, -v, member)
  else
    redis.call('ZADD', k, 'LT', -v, member)
  end
  local exp = tonumber(ARGV[3 + i])
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
