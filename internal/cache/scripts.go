package cache

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"
)

// fillScript stores an entry only if the caller still holds the entry's
// lease: an invalidation deletes the lease, so a load that read the
// database before a write cannot put the old value back afterwards.
// KEYS: entry, lease (one slot: same hash tag). ARGV: token, value, ttl ms.
var fillScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0`)

// respFillScript stores a cached response only if its group's generation
// is still the one the response was built under.
// KEYS: gen, entry (one slot). ARGV: generation seen ("" = none), value, ttl ms.
var respFillScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1]) or ''
if g == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`)

// leaseScript is the miss path's one round trip: it returns the entry if
// one appeared since the caller's GET (another caller stored it), else
// takes the lease if free. Reply: {1, entry} | {2} (lease taken) | {0,
// holder's lease value} (someone else holds it; the value names the
// holder's trace, tracing.go). KEYS: entry, lease. ARGV: token, lease ttl ms.
var leaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {0, redis.call('GET', KEYS[2]) or ''}`)

// releaseScript deletes a lease only if it still holds the caller's token.
// KEYS: lease. ARGV: token.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// execScripts runs a pipeline of EVALSHAs built by add; if a node does not
// know a script yet (NOSCRIPT), the scripts are loaded on every node and the
// pipeline runs once more.
func execScripts(ctx context.Context, c redis.UniversalClient, add func(redis.Pipeliner) []*redis.Cmd) ([]*redis.Cmd, error) {
	for attempt := 0; ; attempt++ {
		pipe := c.Pipeline()
		cmds := add(pipe)
		_, err := pipe.Exec(ctx)
		if err == nil || attempt > 0 || !strings.HasPrefix(err.Error(), "NOSCRIPT") {
			return cmds, err
		}
		for _, s := range []*redis.Script{fillScript, respFillScript} {
			if err := s.Load(ctx, c).Err(); err != nil {
				return cmds, err
			}
		}
	}
}
