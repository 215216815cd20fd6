// Package queue is a reliable task queue on Redis: tasks wait in a Stream
// read through a consumer group, workers claim them with a visibility
// timeout, and a task whose worker dies is delivered again when that
// timeout passes (at-least-once; nothing is lost). Failures retry with
// exponential backoff up to a task's max attempts, then go to a dead-letter
// set that can be listed, requeued or deleted. Delayed tasks and unique
// keys are supported. Every state change is one Lua script over the
// queue's keys, which share one hash tag (Cluster-safe). It serves the
// /queues HTTP API and Redlane's own background jobs (Worker).
package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"regexp"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/redisx"
)

// Errors callers compare with errors.Is.
var (
	ErrNotFound = errdefs.NotFound("No such task (unknown id, or already acknowledged or deleted).")
	// ErrStale: the task is not in flight under this receipt any more (its
	// visibility timeout passed and it went to another worker, or it was
	// already acknowledged or failed).
	ErrStale = errdefs.Conflict("stale-receipt", "This receipt no longer holds the task: its visibility timeout passed and it was delivered again, or it was already acknowledged or failed.")
	// ErrNotDead: requeue or delete of a task that is not a dead letter.
	ErrNotDead = errdefs.Conflict("not-dead", "The task is not in the dead letters.")
	// ErrInvalid: input outside the documented bounds; the errdefs error
	// that carries it names the field.
	ErrInvalid = errors.New("invalid queue request")
)

// invalid is the ErrInvalid for one field.
func invalid(field, msg string) error { return errdefs.Invalid(field, msg).Because(ErrInvalid) }

// Bounds, for Go callers and the HTTP API alike.
const (
	MaxPayloadBytes    = 256 << 10
	MaxAttemptsLimit   = 100
	DefaultMaxAttempts = 5
	MaxDelay           = 30 * 24 * time.Hour
	MinVisibility      = 100 * time.Millisecond
	MaxVisibility      = 12 * time.Hour
	DefaultVisibility  = 30 * time.Second
	MaxClaim           = 100
	MaxUniqueKeyLen    = 200
	// Retry backoff: BackoffBase * 2^(attempt-1), at most BackoffCap, ±20%.
	BackoffBase = time.Second
	BackoffCap  = time.Hour
)

var (
	queueName = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)
	taskID    = regexp.MustCompile(`^[0-9a-f]{24}$`)
)

// Broker runs queue operations and serves them over HTTP. Safe for
// concurrent use; one per process.
type Broker struct {
	rc      *redisx.Client
	cfg     *config.Store // bounds an HTTP claim's wait; nil outside the HTTP API
	keys    keys
	metrics *metrics
	seen    sync.Map // queue names this process has registered
	// Rand orders the queues of a weighted ClaimPriorities (tests seed
	// it; it must then be used from one goroutine); nil: the runtime's
	// random source.
	Rand *mrand.Rand
	// Poll paces a waiting Claim: exponential backoff with jitter, never
	// sleeping past the next scheduled event (a due delayed task or an
	// expiring visibility timeout).
	Poll func() *backoff.ExponentialBackOff
	// tracer starts the task spans (tracing.go); nil: tracing is off.
	tracer trace.Tracer
}

// NewBroker returns a Broker on rc; metrics go to reg (nil: unregistered);
// its HTTP handlers read their limits from cfg (nil for a Broker used only
// from Go).
func NewBroker(rc *redisx.Client, reg prometheus.Registerer, cfg *config.Store) *Broker {
	return &Broker{
		rc: rc, cfg: cfg, keys: keys{rc}, metrics: newMetrics(reg),
		Poll: func() *backoff.ExponentialBackOff {
			return &backoff.ExponentialBackOff{InitialInterval: 10 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: 250 * time.Millisecond}
		},
	}
}

// EnqueueOptions are the optional parts of a task.
type EnqueueOptions struct {
	Delay       time.Duration // run no earlier than this from now
	MaxAttempts int           // 0: DefaultMaxAttempts
	UniqueKey   string        // while a task with this key lives, enqueue returns it instead
}

// Enqueued is the answer to Enqueue.
type Enqueued struct {
	ID        string
	State     string // ready or delayed (or, for a duplicate, the live task's state)
	Duplicate bool   // UniqueKey named a live task; nothing was added
}

// Enqueue adds a task whose payload is JSON. When it returns without
// error the task is in Redis (and, with appendfsync always, on disk).
func (b *Broker) Enqueue(ctx context.Context, queue string, payload json.RawMessage, o EnqueueOptions) (Enqueued, error) {
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if err := validateEnqueue(queue, payload, o); err != nil {
		return Enqueued{}, err
	}
	id, err := newID(12)
	if err != nil {
		return Enqueued{}, err
	}
	ctx, span, tp := b.startEnqueue(ctx, queue)
	if span != nil {
		defer span.End()
		span.SetAttributes(attribute.String("messaging.message.id", id))
	}
	res, err := enqueueScript.Run(ctx, b.rc, b.keys.of(queue), id, string(payload), o.MaxAttempts, o.Delay.Milliseconds(), o.UniqueKey, tp).Slice()
	if err != nil {
		return Enqueued{}, fmt.Errorf("enqueueing to %q: %w", queue, err)
	}
	e := Enqueued{ID: asString(res[1]), State: asString(res[2]), Duplicate: asInt(res[0]) == 0}
	if !e.Duplicate {
		b.metrics.enqueued.Inc()
	}
	b.register(ctx, queue)
	return e, nil
}

// Delivery is a claimed task. Ack, Nack and Extend need its Receipt.
type Delivery struct {
	Queue       string          `json:"queue"`
	ID          string          `json:"id"`
	Receipt     string          `json:"receipt"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"maxAttempts"`
	Deadline    time.Time       `json:"visibleAgainAt"`
	Payload     json.RawMessage `json:"payload"`
}

// Claim takes up to n tasks for worker (a label shown in task state),
// invisible to other claimers for visibility. With wait > 0 it waits for
// tasks to arrive, up to wait; it answers an empty list when none came.
func (b *Broker) Claim(ctx context.Context, queue, worker string, n int, visibility, wait time.Duration) ([]Delivery, error) {
	if err := validateClaim(queue, worker, n, visibility, wait); err != nil {
		return nil, err
	}
	got, err := b.waitFor(ctx, wait, func() ([]Delivery, time.Duration, error) {
		return b.claimOnce(ctx, queue, worker, n, visibility)
	})
	if err != nil {
		return nil, fmt.Errorf("claiming from %q: %w", queue, err)
	}
	return got, nil
}

// waitFor runs attempt until it delivers, fails, or wait has passed (then
// it answers an empty list), pausing between attempts with b.Poll, never
// past the next scheduled event attempt reports (-1: none).
func (b *Broker) waitFor(ctx context.Context, wait time.Duration, attempt func() ([]Delivery, time.Duration, error)) ([]Delivery, error) {
	deadline := time.Now().Add(wait)
	bo := b.Poll()
	for {
		got, wake, err := attempt()
		if err != nil || len(got) > 0 {
			return got, err
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return []Delivery{}, nil
		}
		sleep := min(bo.NextBackOff(), remaining)
		if wake >= 0 && wake < sleep {
			sleep = wake
		}
		if !pause(ctx, max(sleep, time.Millisecond)) {
			return nil, ctx.Err()
		}
	}
}

// claimOnce runs the claim script; wake is how long until the next
// scheduled event, or -1.
func (b *Broker) claimOnce(ctx context.Context, queue, worker string, n int, visibility time.Duration) ([]Delivery, time.Duration, error) {
	nonce, err := newID(8)
	if err != nil {
		return nil, 0, err
	}
	res, err := claimScript.Run(ctx, b.rc, b.keys.of(queue), b.withRetention(worker, n, visibility.Milliseconds(), nonce)...).Slice()
	if err != nil {
		return nil, 0, err
	}
	items, _ := res[0].([]any)
	now, wakeAt := asInt(res[1]), asInt(res[2])
	out := make([]Delivery, 0, len(items))
	for _, it := range items {
		f, _ := it.([]any)
		if len(f) != 6 {
			return nil, 0, fmt.Errorf("claim script answered %v", it)
		}
		out = append(out, Delivery{
			Queue: queue, ID: asString(f[0]), Receipt: asString(f[1]), Attempt: int(asInt(f[2])), MaxAttempts: int(asInt(f[3])),
			Deadline: time.UnixMilli(asInt(f[4])), Payload: json.RawMessage(asString(f[5])),
		})
	}
	b.taskSpans(ctx, queue, "claim", deliveryIDs(out), func(i int) []attribute.KeyValue {
		return []attribute.KeyValue{attribute.Int("queue.attempt", out[i].Attempt)}
	})
	b.metrics.claimed.Add(float64(len(out)))
	b.metrics.claimedFrom(queue, len(out))
	b.metrics.redelivered.Add(float64(asInt(res[3])))
	b.metrics.dead.Add(float64(asInt(res[4])))
	wake := time.Duration(-1)
	if wakeAt >= 0 {
		wake = time.Duration(max(wakeAt-now, 0)) * time.Millisecond
	}
	return out, wake, nil
}

// Ack completes a task: gone for good, or kept as completed, with result
// (JSON, may be nil), for spec.queue.completedRetention.
func (b *Broker) Ack(ctx context.Context, queue, id, receipt string, result json.RawMessage) error {
	if err := validateTask(queue, id); err != nil {
		return err
	}
	if len(result) > 0 {
		if lim := b.queueConfig().ResultMaxBytes; len(result) > lim {
			return invalid("result", fmt.Sprintf("must be at most %d bytes", lim))
		}
		if !json.Valid(result) {
			return invalid("result", "must be JSON")
		}
	}
	b.taskSpans(ctx, queue, "ack", []string{id}, func(int) []attribute.KeyValue { return nil }) // before the ack may drop its state
	n, err := ackScript.Run(ctx, b.rc, b.keys.of(queue), b.withRetention(id, receipt, string(result))...).Int64()
	if err != nil {
		return fmt.Errorf("acking %s in %q: %w", id, queue, err)
	}
	if err := codeError(n); err != nil {
		return err
	}
	b.metrics.acked.Inc()
	return nil
}

// NackResult says what became of a failed task.
type NackResult struct {
	Dead       bool          // it had used its last attempt
	RetryAfter time.Duration // when not dead: until it is claimable again
}

// Nack fails a task: it is retried after delay (nil: exponential backoff
// from its attempt count), or dead-lettered after its last attempt.
func (b *Broker) Nack(ctx context.Context, queue, id, receipt, reason string, delay *time.Duration) (NackResult, error) {
	if err := validateTask(queue, id); err != nil {
		return NackResult{}, err
	}
	d := int64(-1)
	if delay != nil {
		if *delay < 0 || *delay > MaxDelay {
			return NackResult{}, invalid("delay", "must be between 0 and "+MaxDelay.String())
		}
		d = delay.Milliseconds()
	}
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	jitter := 0.8 + 0.4*mrand.Float64()
	v, err := nackScript.Run(ctx, b.rc, b.keys.of(queue), b.withRetention(id, receipt, reason, d, fmt.Sprintf("%.4f", jitter),
		BackoffBase.Milliseconds(), BackoffCap.Milliseconds())...).Result()
	if err != nil {
		return NackResult{}, fmt.Errorf("nacking %s in %q: %w", id, queue, err)
	}
	res, ok := v.([]any)
	if !ok {
		return NackResult{}, codeError(asInt(v))
	}
	out := NackResult{Dead: true}
	if asInt(res[0]) == 2 {
		b.metrics.nacked.WithLabelValues("dead").Inc()
		b.metrics.dead.Inc()
	} else {
		b.metrics.nacked.WithLabelValues("retry").Inc()
		out = NackResult{RetryAfter: time.Duration(asInt(res[1])) * time.Millisecond}
	}
	// After the script: the task's state (and its traceparent) stays, dead
	// or retrying, and the span can say which.
	b.taskSpans(ctx, queue, "nack", []string{id}, func(int) []attribute.KeyValue {
		return []attribute.KeyValue{attribute.Bool("queue.dead", out.Dead), attribute.Int64("queue.retry_after_ms", out.RetryAfter.Milliseconds())}
	})
	return out, nil
}

// Extend pushes an in-flight task's visibility deadline to visibility from
// now: a heartbeat for work that takes longer than planned.
func (b *Broker) Extend(ctx context.Context, queue, id, receipt string, visibility time.Duration) (time.Time, error) {
	if err := validateTask(queue, id); err != nil {
		return time.Time{}, err
	}
	if visibility < MinVisibility || visibility > MaxVisibility {
		return time.Time{}, invalid("visibilityTimeout", fmt.Sprintf("must be between %s and %s", MinVisibility, MaxVisibility))
	}
	n, err := extendScript.Run(ctx, b.rc, b.keys.of(queue), id, receipt, visibility.Milliseconds()).Int64()
	if err != nil {
		return time.Time{}, fmt.Errorf("extending %s in %q: %w", id, queue, err)
	}
	if err := codeError(n); err != nil {
		return time.Time{}, err
	}
	b.taskSpans(ctx, queue, "extend", []string{id}, func(int) []attribute.KeyValue {
		return []attribute.KeyValue{attribute.Int64("queue.visibility_ms", visibility.Milliseconds())}
	})
	return time.UnixMilli(n), nil
}

// Requeue gives a dead task a fresh set of attempts, ready now.
func (b *Broker) Requeue(ctx context.Context, queue, id string) error {
	return b.deadOp(ctx, requeueScript, "requeueing", queue, id)
}

// DeleteDead removes a dead task for good.
func (b *Broker) DeleteDead(ctx context.Context, queue, id string) error {
	return b.deadOp(ctx, deleteDeadScript, "deleting", queue, id)
}

func (b *Broker) deadOp(ctx context.Context, s *redis.Script, what, queue, id string) error {
	if err := validateTask(queue, id); err != nil {
		return err
	}
	n, err := s.Run(ctx, b.rc, b.keys.of(queue), id).Int64()
	if err != nil {
		return fmt.Errorf("%s dead task %s in %q: %w", what, id, queue, err)
	}
	if n == -1 {
		return ErrNotDead
	}
	return codeError(n)
}

var defaultQueueConfig = config.Default().Spec.Queue

// queueConfig is spec.queue, or its defaults for a Broker used only from Go.
func (b *Broker) queueConfig() config.Queue {
	if b.cfg == nil {
		return defaultQueueConfig
	}
	return b.cfg.Current().Spec.Queue
}

// withRetention appends the retention that trimming scripts take as their
// last three arguments: completed keep ms, completed max, dead keep ms.
func (b *Broker) withRetention(args ...any) []any {
	q := b.queueConfig()
	return append(args, q.CompletedRetention.Milliseconds(), q.CompletedMax, q.DeadRetention.Milliseconds())
}

// Pause stops deliveries from queue (claims answer nothing; enqueues are
// still accepted) until Resume. It reports whether the queue was running.
func (b *Broker) Pause(ctx context.Context, queue string) (bool, error) {
	return b.setPaused(ctx, queue, true)
}

// Resume lets a paused queue deliver again. It reports whether the queue
// was paused.
func (b *Broker) Resume(ctx context.Context, queue string) (bool, error) {
	return b.setPaused(ctx, queue, false)
}

func (b *Broker) setPaused(ctx context.Context, queue string, paused bool) (bool, error) {
	if err := validateQueue(queue); err != nil {
		return false, err
	}
	arg := "0"
	if paused {
		arg = "1"
	}
	n, err := pauseScript.Run(ctx, b.rc, b.keys.of(queue), arg).Int64()
	if err != nil {
		return false, fmt.Errorf("pausing %q: %w", queue, err)
	}
	b.register(ctx, queue)
	return n == 1, nil
}

func codeError(n int64) error {
	switch n {
	case 0:
		return ErrNotFound
	case -1:
		return ErrStale
	}
	return nil
}

func newID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making an id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

func asInt(v any) int64 {
	n, _ := v.(int64)
	return n
}

// Redis is the client the Broker runs on.
func (b *Broker) Redis() *redisx.Client { return b.rc }
