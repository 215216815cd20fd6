package queue

import "github.com/redis/go-redis/v9"

// Every script gets the eleven keys of one queue (keys.go) in that order and
// takes its time from Redis, so pods with skewed clocks agree on deadlines.
// Each validates before its first write: a script that fails half-way
// would leave its earlier writes in place.
const prelude = `
local K_STREAM, K_DELAYED, K_INFLIGHT, K_DEAD = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_UNIQUE, K_STATS, K_PAYLOADS, K_META = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_PAUSED, K_COMPLETED, K_SCHEDULES = KEYS[9], KEYS[10], KEYS[11]
local GROUP, CONSUMER = 'workers', 'redlane'

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function get_meta(id)
  local raw = redis.call('HGET', K_META, id)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function put_meta(id, m)
  redis.call('HSET', K_META, id, cjson.encode(m))
end

local function push_ready(id, m)
  if redis.call('EXISTS', K_STREAM) == 0 then
    redis.call('XGROUP', 'CREATE', K_STREAM, GROUP, '0', 'MKSTREAM')
  end
  m.sid = redis.call('XADD', K_STREAM, '*', 'id', id)
  m.state, m.due = 'ready', nil
end

-- schedule makes a task ready now, or delayed until now + delay ms.
local function schedule(id, m, delay, now)
  if delay > 0 then
    m.state, m.due = 'delayed', now + delay
    redis.call('ZADD', K_DELAYED, m.due, id)
  else
    push_ready(id, m)
  end
  put_meta(id, m)
end

local function drop_entry(m)
  if m.sid then
    redis.call('XACK', K_STREAM, GROUP, m.sid)
    redis.call('XDEL', K_STREAM, m.sid)
    m.sid = nil
  end
end

local function forget(id, m)
  redis.call('HDEL', K_PAYLOADS, id)
  redis.call('HDEL', K_META, id)
  if m.unique and redis.call('HGET', K_UNIQUE, m.unique) == id then
    redis.call('HDEL', K_UNIQUE, m.unique)
  end
end

local function to_dead(id, m, reason, now)
  drop_entry(m)
  redis.call('ZREM', K_INFLIGHT, id)
  redis.call('ZREM', K_DELAYED, id)
  m.state, m.error, m.deadAt = 'dead', reason, now
  m.receipt, m.deadline, m.due = nil, nil, nil
  redis.call('ZADD', K_DEAD, now, id)
  redis.call('HINCRBY', K_STATS, 'deadLettered', 1)
  put_meta(id, m)
end

-- add_task stores a new task, ready now or delayed by delay ms; extra
-- fields (a schedule's name and occurrence) go into its state.
local function add_task(id, payload, max, delay, uk, now, extra)
  if redis.call('HEXISTS', K_META, id) == 1 then
    return redis.error_reply('ERR task id collision')
  end
  if uk ~= '' then redis.call('HSET', K_UNIQUE, uk, id) end
  local m = {attempts = 0, max = max, created = now}
  if uk ~= '' then m.unique = uk end
  for k, v in pairs(extra or {}) do m[k] = v end
  redis.call('HSET', K_PAYLOADS, id, payload)
  schedule(id, m, delay, now)
  redis.call('HINCRBY', K_STATS, 'enqueued', 1)
  return m
end

-- trim applies the retention: completed tasks older than keep ms or beyond
-- the newest max, and dead letters older than dead_keep ms (0: kept until
-- an operator acts), at most 100 of each per call. Scripts that call it
-- take keep, max and dead_keep as their last three arguments.
local function trim(now)
  local keep, max, dead_keep = tonumber(ARGV[#ARGV - 2]), tonumber(ARGV[#ARGV - 1]), tonumber(ARGV[#ARGV])
  local gone = redis.call('ZRANGEBYSCORE', K_COMPLETED, '-inf', (now - keep) * 1000 + 999, 'LIMIT', 0, 100)
  local over = redis.call('ZCARD', K_COMPLETED) - #gone - max
  if over > 0 then
    for _, id in ipairs(redis.call('ZRANGE', K_COMPLETED, #gone, #gone + math.min(over, 100) - 1)) do
      gone[#gone + 1] = id
    end
  end
  for _, id in ipairs(gone) do
    redis.call('ZREM', K_COMPLETED, id)
    redis.call('HDEL', K_PAYLOADS, id)
    redis.call('HDEL', K_META, id)
  end
  if dead_keep > 0 then
    local expired = redis.call('ZRANGEBYSCORE', K_DEAD, '-inf', now - dead_keep, 'LIMIT', 0, 100)
    for _, id in ipairs(expired) do
      redis.call('ZREM', K_DEAD, id)
      local m = get_meta(id)
      if m then forget(id, m) end
    end
    if #expired > 0 then redis.call('HINCRBY', K_STATS, 'deadExpired', #expired) end
  end
end

-- check returns the meta of an in-flight task held with receipt, or an
-- error code: 0 unknown task, -1 not in flight under this receipt.
local function check(id, receipt)
  local m = get_meta(id)
  if not m then return nil, 0 end
  if m.state ~= 'inflight' or m.receipt ~= receipt then return nil, -1 end
  return m
end

-- check_dead returns the meta of a dead-lettered task, or an error code:
-- 0 unknown task, -1 not dead.
local function check_dead(id)
  local m = get_meta(id)
  if not m then return nil, 0 end
  if m.state ~= 'dead' then return nil, -1 end
  return m
end
`

// enqueueScript adds a task, ready now or delayed; with a unique key that
// names a live task it adds nothing and answers that task.
// ARGV: id, payload, max attempts, delay ms, unique key ("" for none),
// the enqueuer's traceparent ("" when tracing is off; kept as meta tp,
// tracing.go).
// Returns {1 created | 0 duplicate, id, state}.
var enqueueScript = redis.NewScript(prelude + `
local now = now_ms()
local id, uk = ARGV[1], ARGV[5]
if uk ~= '' then
  local existing = redis.call('HGET', K_UNIQUE, uk)
  if existing then
    local m = get_meta(existing)
    if m then return {0, existing, m.state} end
  end
end
local extra = nil
if ARGV[6] and ARGV[6] ~= '' then extra = {tp = ARGV[6]} end
local m = add_task(id, ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), uk, now, extra)
if m.err then return m end
return {1, id, m.state}
`)

// claimScript delivers up to count tasks with a visibility deadline: first
// it makes due delayed tasks ready, then redelivers tasks whose deadline
// passed (a worker died or is too slow) or dead-letters them after their
// last attempt, then reads new entries of the consumer group.
// A paused queue delivers nothing (and changes nothing).
// ARGV: worker, count, visibility ms, receipt nonce, then the retention.
// Returns {{{id, receipt, attempt, max, deadline ms, payload}...}, now ms,
// next wake ms (-1: nothing scheduled), redelivered, dead-lettered}.
var claimScript = redis.NewScript(prelude + `
local now = now_ms()
if redis.call('EXISTS', K_PAUSED) == 1 then return {{}, now, -1, 0, 0} end
trim(now)
local worker, count, vis, nonce = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', K_DELAYED, id)
  local m = get_meta(id)
  if m then
    push_ready(id, m)
    put_meta(id, m)
  end
end
local out, redelivered, dead = {}, 0, 0
local function deliver(id, m)
  m.attempts = m.attempts + 1
  m.state, m.worker, m.deadline = 'inflight', worker, now + vis
  m.receipt = nonce .. '.' .. (#out + 1)
  redis.call('ZADD', K_INFLIGHT, m.deadline, id)
  put_meta(id, m)
  out[#out + 1] = {id, m.receipt, m.attempts, m.max, m.deadline, redis.call('HGET', K_PAYLOADS, id) or 'null'}
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K_INFLIGHT, '-inf', now, 'LIMIT', 0, count)) do
  local m = get_meta(id)
  if not m then
    redis.call('ZREM', K_INFLIGHT, id)
  elseif m.attempts >= m.max then
    to_dead(id, m, 'visibility timeout expired on the last attempt', now)
    dead = dead + 1
  else
    redelivered = redelivered + 1
    deliver(id, m)
  end
end
if redelivered > 0 then redis.call('HINCRBY', K_STATS, 'redelivered', redelivered) end
if #out < count and redis.call('EXISTS', K_STREAM) == 1 then
  local res = redis.call('XREADGROUP', 'GROUP', GROUP, CONSUMER, 'COUNT', count - #out, 'STREAMS', K_STREAM, '>')
  if res then
    for _, e in ipairs(res[1][2]) do
      local sid, id = e[1], e[2][2]
      local m = get_meta(id)
      if m and m.sid == sid and m.state == 'ready' then
        deliver(id, m)
      else
        redis.call('XACK', K_STREAM, GROUP, sid)
        redis.call('XDEL', K_STREAM, sid)
      end
    end
  end
end
local wake = -1
local d = redis.call('ZRANGE', K_DELAYED, 0, 0, 'WITHSCORES')
if d[2] then wake = tonumber(d[2]) end
local f = redis.call('ZRANGE', K_INFLIGHT, 0, 0, 'WITHSCORES')
if f[2] and (wake < 0 or tonumber(f[2]) < wake) then wake = tonumber(f[2]) end
return {out, now, wake, redelivered, dead}
`)

// ackScript completes an in-flight task: it is gone for good, or kept as
// completed (with its result) for the retention time.
// ARGV: id, receipt, result ("" for none), then the retention.
// Returns 1, or 0 unknown, -1 not held under receipt.
var ackScript = redis.NewScript(prelude + `
local id = ARGV[1]
local m, code = check(id, ARGV[2])
if not m then return code end
local now = now_ms()
drop_entry(m)
redis.call('ZREM', K_INFLIGHT, id)
redis.call('HINCRBY', K_STATS, 'acked', 1)
if tonumber(ARGV[#ARGV - 2]) > 0 then
  if m.unique and redis.call('HGET', K_UNIQUE, m.unique) == id then
    redis.call('HDEL', K_UNIQUE, m.unique)
  end
  m.state, m.completedAt, m.receipt, m.deadline = 'completed', now, nil, nil
  if ARGV[3] ~= '' then m.result = ARGV[3] end
  put_meta(id, m)
  -- scored in ms * 1000 + a sequence, so tasks completed in one
  -- millisecond keep their order
  local seq = redis.call('HINCRBY', K_STATS, 'completedSeq', 1) % 1000
  redis.call('ZADD', K_COMPLETED, now * 1000 + seq, id)
else
  forget(id, m)
end
trim(now)
return 1
`)

// nackScript fails an in-flight task: retried after a backoff, or dead
// after its last attempt.
// ARGV: id, receipt, error, delay ms (-1: exponential backoff), jitter
// factor, backoff base ms, backoff cap ms, then the retention.
// Returns {1 retry, delay ms} or {2 dead, 0}, or 0 / -1 as ackScript.
var nackScript = redis.NewScript(prelude + `
local id = ARGV[1]
local m, code = check(id, ARGV[2])
if not m then return code end
local now = now_ms()
trim(now)
local reason = ARGV[3]
if reason == '' then reason = 'failed' end
if m.attempts >= m.max then
  to_dead(id, m, reason, now)
  return {2, 0}
end
drop_entry(m)
redis.call('ZREM', K_INFLIGHT, id)
m.error, m.receipt, m.deadline, m.worker = reason, nil, nil, nil
local delay = tonumber(ARGV[4])
if delay < 0 then
  delay = math.min(tonumber(ARGV[6]) * 2 ^ (m.attempts - 1), tonumber(ARGV[7])) * tonumber(ARGV[5])
end
delay = math.floor(delay)
schedule(id, m, delay, now)
redis.call('HINCRBY', K_STATS, 'retried', 1)
return {1, delay}
`)

// extendScript moves an in-flight task's visibility deadline (a heartbeat
// for long tasks). ARGV: id, receipt, visibility ms.
// Returns the new deadline ms, or 0 / -1 as ackScript.
var extendScript = redis.NewScript(prelude + `
local id = ARGV[1]
local m, code = check(id, ARGV[2])
if not m then return code end
m.deadline = now_ms() + tonumber(ARGV[3])
redis.call('ZADD', K_INFLIGHT, m.deadline, id)
put_meta(id, m)
return m.deadline
`)

// requeueScript gives a dead task a fresh set of attempts.
// ARGV: id. Returns 1, 0 unknown, -1 not dead.
var requeueScript = redis.NewScript(prelude + `
local id = ARGV[1]
local m, code = check_dead(id)
if not m then return code end
redis.call('ZREM', K_DEAD, id)
m.attempts, m.deadAt = 0, nil
push_ready(id, m)
put_meta(id, m)
redis.call('HINCRBY', K_STATS, 'requeued', 1)
return 1
`)

// deleteDeadScript removes a dead task for good.
// ARGV: id. Returns 1, 0 unknown, -1 not dead.
var deleteDeadScript = redis.NewScript(prelude + `
local id = ARGV[1]
local m, code = check_dead(id)
if not m then return code end
redis.call('ZREM', K_DEAD, id)
forget(id, m)
return 1
`)

// statsScript counts tasks by state in one consistent read. Delayed tasks
// already due count as ready: the next claim promotes them.
// Returns {stream length, in flight, in flight past deadline, delayed,
// delayed due, dead, {counter, value, ...}, completed, paused (0|1)}.
var statsScript = redis.NewScript(prelude + `
local now = now_ms()
return {
  redis.call('XLEN', K_STREAM),
  redis.call('ZCARD', K_INFLIGHT),
  redis.call('ZCOUNT', K_INFLIGHT, '-inf', now),
  redis.call('ZCARD', K_DELAYED),
  redis.call('ZCOUNT', K_DELAYED, '-inf', now),
  redis.call('ZCARD', K_DEAD),
  redis.call('HGETALL', K_STATS),
  redis.call('ZCARD', K_COMPLETED),
  redis.call('EXISTS', K_PAUSED),
}
`)

// getScript reads one task: ARGV[1] is its id. Returns {meta json,
// payload}, or false when unknown.
var getScript = redis.NewScript(prelude + `
local m = redis.call('HGET', K_META, ARGV[1])
if not m then return false end
return {m, redis.call('HGET', K_PAYLOADS, ARGV[1])}
`)

// listScript lists dead letters (oldest first) or completed tasks (newest
// first). ARGV: dead|completed, offset, limit.
// Returns {total, {id, meta, payload}...}.
var listScript = redis.NewScript(prelude + `
local key = K_DEAD
if ARGV[1] == 'completed' then key = K_COMPLETED end
local off, lim = tonumber(ARGV[2]), tonumber(ARGV[3])
local ids
if key == K_DEAD then
  ids = redis.call('ZRANGE', key, off, off + lim - 1)
else
  ids = redis.call('ZREVRANGE', key, off, off + lim - 1)
end
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = {id, redis.call('HGET', K_META, id), redis.call('HGET', K_PAYLOADS, id)}
end
return {redis.call('ZCARD', key), out}
`)

// pauseScript pauses (ARGV[1] == "1") or resumes a queue: a paused queue
// accepts tasks but delivers none. Returns 1 when that changed something.
var pauseScript = redis.NewScript(prelude + `
if ARGV[1] == '1' then
  if redis.call('SET', K_PAUSED, '1', 'NX') then return 1 end
  return 0
end
return redis.call('DEL', K_PAUSED)
`)
