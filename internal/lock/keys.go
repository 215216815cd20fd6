package lock

import "github.com/redlane/redlane/internal/redisx"

// Redis keys of one lock name N (prefix from spec.redis.keyPrefix):
//
//	<prefix>lock:{N}        HASH {token, fence}. PX = the lease TTL, so an
//	                        abandoned lease frees itself. Written only by the
//	                        acquire/extend/release scripts.
//	<prefix>lock:{N}:fence  STRING counter, INCR'd by the acquire script; no
//	                        TTL and never deleted, because fences must keep
//	                        growing across leases (one small key per name ever
//	                        locked).
//
// Both keys share the hash tag {N}, so each script touches one Cluster slot.
// Names cannot contain braces (Validate), so the tag is always exactly N.
type keys struct{ rc *redisx.Client }

type lockKeys struct{ lease, fence string }

func (k keys) of(name string) lockKeys {
	base := k.rc.Key("lock", "{"+name+"}")
	return lockKeys{lease: base, fence: base + ":fence"}
}
