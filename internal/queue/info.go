package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/errdefs"
)

// Task is what anyone may know about a task (never its receipt).
type Task struct {
	ID          string          `json:"id"`
	State       string          `json:"state"` // ready, delayed, inflight, dead or completed
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"maxAttempts"`
	UniqueKey   string          `json:"uniqueKey,omitempty"`
	LastError   string          `json:"lastError,omitempty"`
	Worker      string          `json:"worker,omitempty"`
	CreatedAt   time.Time       `json:"createdAt"`
	DueAt       *time.Time      `json:"dueAt,omitempty"`          // delayed: when it becomes ready
	VisibleAt   *time.Time      `json:"visibleAgainAt,omitempty"` // in flight: when it is delivered again
	DeadAt      *time.Time      `json:"deadAt,omitempty"`
	CompletedAt *time.Time      `json:"completedAt,omitempty"`
	Schedule    string          `json:"schedule,omitempty"`   // the schedule that enqueued it
	Occurrence  *time.Time      `json:"occurrence,omitempty"` // the schedule's occurrence it stands for (absent when triggered by hand)
	Payload     json.RawMessage `json:"payload"`
	Result      json.RawMessage `json:"result,omitempty"` // completed: what the worker attached to its ack
}

// meta is the cjson task state written by the scripts.
type meta struct {
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	Max      int    `json:"max"`
	Unique   string `json:"unique"`
	Error    string `json:"error"`
	Worker   string `json:"worker"`
	Created  int64  `json:"created"`
	Due      int64  `json:"due"`
	Deadline int64  `json:"deadline"`
	DeadAt   int64  `json:"deadAt"`
	Done     int64  `json:"completedAt"`
	Result   string `json:"result"`
	Schedule string `json:"schedule"`
	Occurs   int64  `json:"occurrence"`
}

func taskFrom(id, rawMeta, payload string) (Task, error) {
	var m meta
	if err := json.Unmarshal([]byte(rawMeta), &m); err != nil {
		return Task{}, fmt.Errorf("task %s: reading its state: %w", id, err)
	}
	t := Task{ID: id, State: m.State, Attempts: m.Attempts, MaxAttempts: m.Max, UniqueKey: m.Unique,
		LastError: m.Error, Worker: m.Worker, CreatedAt: time.UnixMilli(m.Created), Payload: json.RawMessage(payload)}
	at := func(ms int64) *time.Time {
		if ms == 0 {
			return nil
		}
		t := time.UnixMilli(ms)
		return &t
	}
	switch m.State {
	case "delayed":
		t.DueAt = at(m.Due)
	case "inflight":
		t.VisibleAt = at(m.Deadline)
	case "dead":
		t.DeadAt = at(m.DeadAt)
	case "completed":
		t.CompletedAt = at(m.Done)
		if m.Result != "" {
			t.Result = json.RawMessage(m.Result)
		}
	}
	t.Schedule, t.Occurrence = m.Schedule, at(m.Occurs)
	if t.Worker != "" && m.State != "inflight" {
		t.Worker = ""
	}
	return t, nil
}

// Get reads one task.
func (b *Broker) Get(ctx context.Context, queue, id string) (Task, error) {
	if err := validateTask(queue, id); err != nil {
		return Task{}, err
	}
	v, err := getScript.Run(ctx, b.rc, b.keys.of(queue), id).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return Task{}, fmt.Errorf("reading task %s in %q: %w", id, queue, err)
	}
	f, ok := v.([]any)
	if !ok || len(f) != 2 {
		return Task{}, ErrNotFound
	}
	return taskFrom(id, asString(f[0]), asString(f[1]))
}

// Dead lists dead-lettered tasks, oldest first, from offset; total is how
// many there are.
func (b *Broker) Dead(ctx context.Context, queue string, offset, limit int) (tasks []Task, total int64, err error) {
	return b.list(ctx, "dead", queue, offset, limit)
}

// Completed lists the acked tasks kept for spec.queue.completedRetention,
// newest first, from offset; total is how many there are.
func (b *Broker) Completed(ctx context.Context, queue string, offset, limit int) (tasks []Task, total int64, err error) {
	return b.list(ctx, "completed", queue, offset, limit)
}

func (b *Broker) list(ctx context.Context, which, queue string, offset, limit int) (tasks []Task, total int64, err error) {
	if err := validateQueue(queue); err != nil {
		return nil, 0, err
	}
	if offset < 0 || limit < 1 || limit > 1000 {
		return nil, 0, errdefs.InvalidFields(map[string]string{"offset": "must be >= 0", "limit": "must be 1-1000"}).Because(ErrInvalid)
	}
	res, err := listScript.Run(ctx, b.rc, b.keys.of(queue), which, offset, limit).Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("listing %s tasks of %q: %w", which, queue, err)
	}
	items, _ := res[1].([]any)
	tasks = make([]Task, 0, len(items))
	for _, it := range items {
		f, _ := it.([]any)
		if len(f) != 3 || asString(f[1]) == "" {
			continue
		}
		t, err := taskFrom(asString(f[0]), asString(f[1]), asString(f[2]))
		if err != nil {
			return nil, 0, err
		}
		tasks = append(tasks, t)
	}
	return tasks, asInt(res[0]), nil
}

// Stats counts a queue's tasks by state, with lifetime counters.
type Stats struct {
	Queue     string           `json:"queue"`
	Ready     int64            `json:"ready"`    // claimable now
	InFlight  int64            `json:"inFlight"` // claimed, not yet acked (Expired of them past their deadline)
	Expired   int64            `json:"inFlightExpired"`
	Delayed   int64            `json:"delayed"` // waiting for a delay or a retry backoff
	Dead      int64            `json:"dead"`
	Completed int64            `json:"completed"` // acked tasks kept for spec.queue.completedRetention
	Paused    bool             `json:"paused"`    // claims deliver nothing until resumed
	Counters  map[string]int64 `json:"counters"`  // enqueued, acked, retried, redelivered, deadLettered, deadExpired, requeued, scheduled, skipped
}

// Stats reads a queue's counts in one consistent step.
func (b *Broker) Stats(ctx context.Context, queue string) (Stats, error) {
	if err := validateQueue(queue); err != nil {
		return Stats{}, err
	}
	res, err := statsScript.Run(ctx, b.rc, b.keys.of(queue)).Slice()
	if err != nil {
		return Stats{}, fmt.Errorf("reading stats of %q: %w", queue, err)
	}
	xlen, inflight, expired, delayed, due, dead := asInt(res[0]), asInt(res[1]), asInt(res[2]), asInt(res[3]), asInt(res[4]), asInt(res[5])
	s := Stats{Queue: queue, Ready: xlen - inflight + due, InFlight: inflight, Expired: expired, Delayed: delayed - due, Dead: dead,
		Completed: asInt(res[7]), Paused: asInt(res[8]) == 1,
		Counters: map[string]int64{"enqueued": 0, "acked": 0, "retried": 0, "redelivered": 0, "deadLettered": 0, "deadExpired": 0, "requeued": 0, "scheduled": 0, "skipped": 0}}
	kv, _ := res[6].([]any)
	for i := 0; i+1 < len(kv); i += 2 {
		if asString(kv[i]) == "completedSeq" {
			continue
		}
		n, _ := strconv.ParseInt(asString(kv[i+1]), 10, 64)
		s.Counters[asString(kv[i])] = n
	}
	return s, nil
}
