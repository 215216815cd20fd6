package realtime

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/redlane/redlane/internal/redisx"
)

// Redis keys and channels owned by this package. {room} is a hash tag, so
// every key of one room (and its sharded pub/sub channel) lives in one
// Cluster slot: the publish script touches them together, and SPUBLISH from
// inside that script is allowed because the channel hashes to the same slot.
//
//	<prefix>chat:{room}:stream      STREAM  the room's history. Entries: p (previous id, "" for the
//	                                        first), t (publish time, unix µs), e (epoch of the writing
//	                                        server), f (1 on the first message after a failover; see
//	                                        scripts.go), c (the publisher's W3C traceparent, only when
//	                                        tracing is on; tracing.go), b (JSON body). Trimmed by
//	                                        MAXLEN ~ historySize and MINID ~ (now-historyRetention); the
//	                                        key expires historyRetention after the last publish.
//	                                        Writer: the publish script only.
//	<prefix>chat:{room}:last        STRING  id of the room's newest message; outlives the stream
//	                                        (lastIDTTL) so a resume long after can still prove "no gap".
//	                                        Writer: the publish script.
//	<prefix>chat:{room}:idem:<key>  STRING  message id published under an idempotency key; TTL
//	                                        idempotencyTTL. Writer: the publish script.
//	<prefix>chat:{room}:presence    ZSET    member "<pod> <conn> <user>", score = expiry (unix ms).
//	                                        Writers: each instance adds its local members on join,
//	                                        removes them on leave and refreshes the scores every
//	                                        presenceTTL/3; readers ignore expired scores, so the
//	                                        entries of a crashed instance vanish by themselves.
//	<prefix>chat:rooms              ZSET    active rooms, score = expiry (unix ms), refreshed by every
//	                                        instance with members in the room. One key, one slot.
//	<prefix>chat:{room}             channel pub/sub (SPUBLISH/SSUBSCRIBE in Cluster mode) carrying
//	                                        "<id>\n<prev>\n<µs>[ f][ <traceparent>]\n<body>" for each new message.
//	<prefix>chat:probe:<pod>        channel readiness round trip of one instance (not sharded).
//
// One key is used through the ratelimit package, which writes it:
//
//	<prefix>ratelimit:{chat-publish:<subject>}  STRING  the per-sender publish rate's GCRA state
//	                                        (publishrate.go); subject is user:<name> or ip:<address>.
//	                                        TTL: until the bucket is full again. One key per
//	                                        decision, so any slot.
type keys struct {
	prefix string
}

func newKeys(rc *redisx.Client) keys { return keys{prefix: rc.Prefix} }

func (k keys) room(room string) string     { return k.prefix + "chat:{" + room + "}" }
func (k keys) stream(room string) string   { return k.room(room) + ":stream" }
func (k keys) last(room string) string     { return k.room(room) + ":last" }
func (k keys) presence(room string) string { return k.room(room) + ":presence" }
func (k keys) idem(room, key string) string {
	return k.room(room) + ":idem:" + key
}
func (k keys) channel(room string) string { return k.room(room) }
func (k keys) rooms() string              { return k.prefix + "chat:rooms" }
func (k keys) probe(pod string) string    { return k.prefix + "chat:probe:" + pod }

// roomOfChannel is the inverse of channel.
func (k keys) roomOfChannel(ch string) (string, bool) {
	rest, ok := strings.CutPrefix(ch, k.prefix+"chat:{")
	if !ok || !strings.HasSuffix(rest, "}") {
		return "", false
	}
	return rest[:len(rest)-1], true
}

var roomPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:,-]{0,127}$`)

// ValidRoom checks a room name: 1-128 characters of letters, digits, '_',
// '.', '-', ':' and ',', starting with a letter or digit. ':' and ',' are
// what room policies' patterns split on (team:{id}:general, dm:{a},{b}).
// Braces, spaces and glob characters are refused so a name can never break
// a key or hash tag.
func ValidRoom(room string) error {
	if room == "" {
		return fmt.Errorf("must not be empty")
	}
	if !roomPattern.MatchString(room) {
		return fmt.Errorf("must be 1-128 letters, digits, '_', '.', '-', ':' or ',', starting with a letter or digit")
	}
	return nil
}

var idemPattern = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)

func validIdempotencyKey(k string) bool { return idemPattern.MatchString(k) }
