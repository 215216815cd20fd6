package queue

import "github.com/redlane/redlane/internal/redisx"

// Redis keys of one queue Q, all under the hash tag {Q} so every script
// works on one Cluster slot (queue names cannot contain braces):
//
//	<prefix>queue:{Q}:stream    STREAM of ready and in-flight tasks, one entry
//	                            {id: <task id>} per delivery round; consumer
//	                            group "workers" (its PEL = delivered, not acked).
//	                            Entries are XDEL'd on ack/nack/dead-letter.
//	<prefix>queue:{Q}:delayed   ZSET task id -> due time (ms, Redis clock):
//	                            delayed tasks and retries waiting for backoff.
//	<prefix>queue:{Q}:inflight  ZSET task id -> visibility deadline (ms): a
//	                            task past it is delivered again (or dead).
//	<prefix>queue:{Q}:dead      ZSET task id -> time it was dead-lettered.
//	<prefix>queue:{Q}:unique    HASH unique key -> task id, while the task lives.
//	<prefix>queue:{Q}:stats     HASH counters: enqueued, acked, retried,
//	                            redelivered, deadLettered, requeued.
//	<prefix>queue:{Q}:payloads  HASH task id -> payload (JSON text).
//	<prefix>queue:{Q}:meta      HASH task id -> task state (cjson): attempts,
//	                            max, state, stream entry id, receipt, deadline,
//	                            due, unique key, last error, times, result,
//	                            schedule name and occurrence, and the
//	                            enqueuer's traceparent (tp; tracing.go).
//	<prefix>queue:{Q}:paused    STRING "1" while the queue is paused.
//	<prefix>queue:{Q}:completed ZSET task id -> completion time (ms * 1000 +
//	                            a sequence, for order within a ms): acked
//	                            tasks kept for spec.queue.completedRetention.
//	<prefix>queue:{Q}:schedules HASH schedule name -> state (cjson): last
//	                            occurrence run (ms), spec it was computed
//	                            for, paused, fired/skipped counts.
//
// None has a TTL: a task lives until it is acknowledged (and its retention
// passed) or deleted from the dead letters (or its dead retention passed). Only the scripts in scripts.go write them, so the keys
// always agree with each other.
type keys struct{ rc *redisx.Client }

func (k keys) of(queue string) []string {
	base := k.rc.Key("queue", "{"+queue+"}")
	return []string{
		base + ":stream", base + ":delayed", base + ":inflight", base + ":dead",
		base + ":unique", base + ":stats", base + ":payloads", base + ":meta",
		base + ":paused", base + ":completed", base + ":schedules",
	}
}
