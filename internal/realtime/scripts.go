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
// idempotency TTL (ms), "PUBLISH" or "SPUBLISH", last-id TTL (ms),
// publisher's traceparent ("" when tracing is off; see tracing.go): stored as
// field c and appended to the payload's time line, never to the body.
//
// Each entry records the id of the message before it (p), so a reader can
// prove that a run of messages has no hole: the first one after `since`
// must name `since` as its predecessor.
//
// Each entry also records its epoch (e): the first 16 hex digits of the
// writing server's replication id (INFO replication, master_replid), new
// whenever another server becomes the writer. When the epoch changes and
// the writer is a promoted replica (its master_replid2 is set), the entry
// is marked (f = 1): its master died, and messages it had acknowledged
// without replicating them are gone (replication is asynchronous), though
// the predecessor chain of the surviving history looks whole. Readers
// report a gap before a marked message. A restarted server also changes
// epoch but is not marked: what it lost breaks the chain as seen by anyone
// who received the lost messages (their predecessor comes before what they
// saw). The published payload carries the mark as " f" after the time.
// Where scripts cannot run INFO (the embedded development server) there is
// no epoch and no mark.
//
// Returns {id, duplicate}: duplicate is 1 when the idempotency key had
// already published id, and nothing was written.
var publishScript = redis.NewScript(`
if #KEYS >= 3 then
  local prior = redis.call('GET', KEYS[3])
  if prior then return {prior, 1} end
end
local prev = redis.call('GET', KEYS[2]) or ''
local epoch, mark = '', ''
local ok, info = pcall(redis.call, 'INFO', 'replication')
if ok and type(info) == 'string' then
  epoch = string.sub(string.match(info, 'master_replid:(%x+)') or '', 1, 16)
  local replid2 = string.match(info, 'master_replid2:(%x+)') or ''
  local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
  local before = ''
  if newest then
    for i = 1, #newest[2], 2 do
      if newest[2][i] == 'e' then before = newest[2][i + 1] end
    end
  end
  if before ~= '' and before ~= epoch and string.find(replid2, '[1-9a-f]') then
    mark = '1'
  end
end
local fields = {'p', prev, 't', ARGV[3], 'e', epoch}
if mark == '1' then
  table.insert(fields, 'f'); table.insert(fields, mark)
end
local tp = ARGV[9] or ''
if tp ~= '' then
  table.insert(fields, 'c'); table.insert(fields, tp)
end
table.insert(fields, 'b'); table.insert(fields, ARGV[2])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', unpack(fields))
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
local stamp = ARGV[3]
if mark == '1' then stamp = stamp .. ' f' end
if tp ~= '' then stamp = stamp .. ' ' .. tp end
redis.call(ARGV[7], ARGV[1], id .. '\n' .. prev .. '\n' .. stamp .. '\n' .. ARGV[2])
return {id, 0}
`)
