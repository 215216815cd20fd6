package realtime

import "github.com/redis/go-redis/v9"

// publishScript appends a message to the room's history and publishes it, as
// one atomic step, so history order and live order are the same order and a
// message is either in both or in neither.
//
// KEYS[1] stream, KEYS[2] last-id key, KEYS[3] idempotency key (optional):
// all carry the room's hash tag, so they share a Cluster slot with each
// other and with the room's channel (ARGV[1]), which is why SPUBLISH from
// inside the script is allowed in Cluster mode.
//
// ARGV: channel, body JSON, publish time (unix µs), MAXLEN, retention (ms),
// idempotency TTL (ms), "PUBLISH" or "SPUBLISH", last-id TTL (ms).
//
// Each entry records the id of the message before it (p), so a reader can
// prove that a run of messages has no hole: the first one after `since`
// must name `since` as its predecessor.
//
// Returns {id, duplicate}: duplicate is 1 when the idempotency key had
// already published id, and nothing was written.
var publishScript = redis.NewScript(`
if #KEYS >= 3 then
  local prior = redis.call('GET', KEYS[3])
  if prior then return {prior, 1} end
end
local prev = redis.call('GET', KEYS[2]) or ''
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'p', prev, 't', ARGV[3], 'b', ARGV[2])
local ms = tonumber(string.match(id, '^(%d+)'))
local minid = ms - tonumber(ARGV[5])
if minid > 0 then
  redis.call('XTRIM', KEYS[1], 'MINID', '~', tostring(minid))
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('SET', KEYS[2], id, 'PX', ARGV[8])
if #KEYS >= 3 then
  redis.call('SET', KEYS[3], id, 'PX', ARGV[6])
end
redis.call(ARGV[7], ARGV[1], id .. '\n' .. prev .. '\n' .. ARGV[3] .. '\n' .. ARGV[2])
return {id, 0}
`)
