package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/queue"
	"github.com/redlane/redlane/internal/redistest"
)

var ctx = context.Background()

func TestQueue(t *testing.T) {
	for _, b := range redistest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			rc1, rc2 := b.Open(t)
			p1, p2 := queue.NewBroker(rc1, nil, nil), queue.NewBroker(rc2, nil, nil)
			t.Run("lifecycle", func(t *testing.T) { testLifecycle(t, p1) })
			t.Run("dead worker's task is delivered again", func(t *testing.T) { testWorkerDies(t, p1, p2) })
			t.Run("retries, dead letters, requeue, delete", func(t *testing.T) { testRetriesAndDead(t, p1) })
			t.Run("delayed tasks", func(t *testing.T) { testDelayed(t, p1) })
			t.Run("unique keys", func(t *testing.T) { testUnique(t, p1) })
			t.Run("many workers dying lose nothing", func(t *testing.T) { testNothingLost(t, p1, p2) })
		})
	}
}

func enqueue(t *testing.T, b *queue.Broker, q, payload string, o queue.EnqueueOptions) queue.Enqueued {
	t.Helper()
	e, err := b.Enqueue(ctx, q, json.RawMessage(payload), o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func claim1(t *testing.T, b *queue.Broker, q string, vis, wait time.Duration) *queue.Delivery {
	t.Helper()
	got, err := b.Claim(ctx, q, "w", 1, vis, wait)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		return nil
	}
	return &got[0]
}

func stats(t *testing.T, b *queue.Broker, q string) queue.Stats {
	t.Helper()
	s, err := b.Stats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testLifecycle(t *testing.T, b *queue.Broker) {
	e := enqueue(t, b, "life", `{"email":"a@example.com"}`, queue.EnqueueOptions{})
	if e.State != "ready" || e.Duplicate || len(e.ID) != 24 {
		t.Fatalf("enqueued = %+v", e)
	}
	if s := stats(t, b, "life"); s.Ready != 1 || s.InFlight != 0 || s.Counters["enqueued"] != 1 {
		t.Fatalf("stats = %+v", s)
	}
	d := claim1(t, b, "life", time.Minute, 0)
	if d == nil || d.ID != e.ID || d.Attempt != 1 || d.MaxAttempts != queue.DefaultMaxAttempts || string(d.Payload) != `{"email":"a@example.com"}` {
		t.Fatalf("delivery = %+v", d)
	}
	if again := claim1(t, b, "life", time.Minute, 0); again != nil {
		t.Fatalf("an in-flight task was delivered twice: %+v", again)
	}
	if task, err := b.Get(ctx, "life", e.ID); err != nil || task.State != "inflight" || task.VisibleAt == nil {
		t.Fatalf("task = %+v %v", task, err)
	}
	if s := stats(t, b, "life"); s.Ready != 0 || s.InFlight != 1 {
		t.Fatalf("stats in flight = %+v", s)
	}
	if err := b.Ack(ctx, "life", e.ID, "bogus", nil); !errors.Is(err, queue.ErrStale) {
		t.Fatalf("ack with a wrong receipt = %v", err)
	}
	if err := b.Ack(ctx, "life", e.ID, d.Receipt, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Ack(ctx, "life", e.ID, d.Receipt, nil); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("second ack = %v", err)
	}
	if s := stats(t, b, "life"); s.Ready+s.InFlight+s.Delayed+s.Dead != 0 || s.Counters["acked"] != 1 {
		t.Fatalf("stats after ack = %+v", s)
	}
}

func testWorkerDies(t *testing.T, a, b *queue.Broker) {
	e := enqueue(t, a, "dies", `{"n":1}`, queue.EnqueueOptions{})
	first := claim1(t, a, "dies", 300*time.Millisecond, 0)
	if first == nil {
		t.Fatal("nothing claimed")
	}
	// The worker dies: no ack. Another pod's worker waits and gets it again.
	second := claim1(t, b, "dies", time.Minute, 10*time.Second)
	if second == nil || second.ID != e.ID || second.Attempt != 2 || second.Receipt == first.Receipt {
		t.Fatalf("redelivery = %+v", second)
	}
	if err := a.Ack(ctx, "dies", e.ID, first.Receipt, nil); !errors.Is(err, queue.ErrStale) {
		t.Fatalf("the dead worker's late ack = %v, want ErrStale", err)
	}
	if err := b.Ack(ctx, "dies", e.ID, second.Receipt, nil); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, a, "dies"); s.Counters["redelivered"] != 1 || s.Counters["acked"] != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func testRetriesAndDead(t *testing.T, b *queue.Broker) {
	e := enqueue(t, b, "retry", `"x"`, queue.EnqueueOptions{MaxAttempts: 2})
	d := claim1(t, b, "retry", time.Minute, 0)
	nacked := time.Now()
	res, err := b.Nack(ctx, "retry", e.ID, d.Receipt, "smtp down", nil)
	if err != nil || res.Dead || res.RetryAfter < 800*time.Millisecond || res.RetryAfter > 1200*time.Millisecond {
		t.Fatalf("first nack = %+v %v, want a retry after 1s±20%%", res, err)
	}
	if task, err := b.Get(ctx, "retry", e.ID); err != nil || task.State != "delayed" || task.LastError != "smtp down" || task.DueAt == nil {
		t.Fatalf("task after nack = %+v, %v", task, err)
	}
	d = claim1(t, b, "retry", time.Minute, 0)
	if d != nil && time.Since(nacked) < 700*time.Millisecond {
		t.Fatal("claimed during its backoff")
	}
	if d == nil { // the usual case; a very slow machine may already be past the backoff
		d = claim1(t, b, "retry", time.Minute, 10*time.Second)
	}
	if d == nil || d.Attempt != 2 {
		t.Fatalf("retry delivery = %+v", d)
	}
	zero := time.Duration(0)
	if res, err := b.Nack(ctx, "retry", e.ID, d.Receipt, "still down", &zero); err != nil || !res.Dead {
		t.Fatalf("last nack = %+v %v, want dead", res, err)
	}
	dead, total, err := b.Dead(ctx, "retry", 0, 10)
	if err != nil || total != 1 || len(dead) != 1 || dead[0].ID != e.ID || dead[0].LastError != "still down" || dead[0].Attempts != 2 || dead[0].DeadAt == nil {
		t.Fatalf("dead letters = %+v %d %v", dead, total, err)
	}
	if err := b.Ack(ctx, "retry", e.ID, d.Receipt, nil); !errors.Is(err, queue.ErrStale) {
		t.Fatalf("ack of a dead task = %v", err)
	}
	if err := b.Requeue(ctx, "retry", e.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.Requeue(ctx, "retry", e.ID); !errors.Is(err, queue.ErrNotDead) {
		t.Fatalf("requeue of a live task = %v", err)
	}
	d = claim1(t, b, "retry", 200*time.Millisecond, 0)
	if d == nil || d.Attempt != 1 {
		t.Fatalf("requeued delivery = %+v", d)
	}
	// Visibility runs out on the last attempt too: dead, not lost.
	e2 := enqueue(t, b, "retry", `"y"`, queue.EnqueueOptions{MaxAttempts: 1})
	if err := b.Ack(ctx, "retry", e.ID, d.Receipt, nil); err != nil {
		t.Fatal(err)
	}
	d2 := claim1(t, b, "retry", 200*time.Millisecond, 0)
	if d2 == nil || d2.ID != e2.ID {
		t.Fatalf("claim = %+v", d2)
	}
	waitFor(t, func() bool {
		_ = claim1(t, b, "retry", time.Minute, 0)
		return stats(t, b, "retry").Dead == 1
	})
	if err := b.DeleteDead(ctx, "retry", e2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "retry", e2.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("deleted task still there: %v", err)
	}
	if s := stats(t, b, "retry"); s.Ready+s.InFlight+s.Delayed+s.Dead != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func testDelayed(t *testing.T, b *queue.Broker) {
	start := time.Now()
	e := enqueue(t, b, "later", `1`, queue.EnqueueOptions{Delay: 2 * time.Second})
	if e.State != "delayed" {
		t.Fatalf("enqueued = %+v", e)
	}
	if s := stats(t, b, "later"); s.Delayed != 1 || s.Ready != 0 {
		t.Fatalf("stats = %+v", s)
	}
	d := claim1(t, b, "later", time.Minute, 0)
	if d != nil && time.Since(start) < 2*time.Second {
		t.Fatal("delayed task claimed early")
	}
	if d == nil {
		d = claim1(t, b, "later", time.Minute, 10*time.Second)
	}
	if d == nil || d.ID != e.ID {
		t.Fatalf("delayed task never delivered: %+v", d)
	}
	if err := b.Ack(ctx, "later", d.ID, d.Receipt, nil); err != nil {
		t.Fatal(err)
	}
}

func testUnique(t *testing.T, b *queue.Broker) {
	o := queue.EnqueueOptions{UniqueKey: "report:2026-11-27"}
	e1 := enqueue(t, b, "uniq", `1`, o)
	e2 := enqueue(t, b, "uniq", `2`, o)
	if e1.Duplicate || !e2.Duplicate || e2.ID != e1.ID {
		t.Fatalf("unique enqueue = %+v then %+v", e1, e2)
	}
	if s := stats(t, b, "uniq"); s.Ready != 1 {
		t.Fatalf("duplicate added a task: %+v", s)
	}
	d := claim1(t, b, "uniq", time.Minute, 0)
	if e3 := enqueue(t, b, "uniq", `3`, o); !e3.Duplicate || e3.State != "inflight" {
		t.Fatalf("in-flight task's key not held: %+v", e3)
	}
	if err := b.Ack(ctx, "uniq", d.ID, d.Receipt, nil); err != nil {
		t.Fatal(err)
	}
	if e4 := enqueue(t, b, "uniq", `4`, o); e4.Duplicate || e4.ID == e1.ID {
		t.Fatalf("key still held after ack: %+v", e4)
	}
}

// testNothingLost: workers of two pods claim in batches; a fifth of the
// deliveries are abandoned (the worker "dies"). Every task is still
// acknowledged in the end, and the queue is empty.
func testNothingLost(t *testing.T, a, b *queue.Broker) {
	const tasks = 150
	want := map[string]bool{}
	for i := 0; i < tasks; i++ {
		want[enqueue(t, a, "bulk", fmt.Sprintf(`{"i":%d}`, i), queue.EnqueueOptions{MaxAttempts: 20}).ID] = true
	}
	var mu sync.Mutex
	acked := map[string]int{}
	var wg sync.WaitGroup
	deadline := time.Now().Add(60 * time.Second)
	for w := 0; w < 6; w++ {
		br := []*queue.Broker{a, b}[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for time.Now().Before(deadline) {
				mu.Lock()
				done := len(acked) == tasks
				mu.Unlock()
				if done {
					return
				}
				got, err := br.Claim(ctx, "bulk", fmt.Sprint("w", w), 5, 300*time.Millisecond, 500*time.Millisecond)
				if err != nil {
					t.Error(err)
					return
				}
				for _, d := range got {
					n++
					if n%5 == 0 {
						continue // this worker "dies" holding the task
					}
					if err := br.Ack(ctx, "bulk", d.ID, d.Receipt, nil); err != nil {
						if errors.Is(err, queue.ErrStale) {
							continue // took too long: redelivered elsewhere
						}
						t.Error(err)
						return
					}
					mu.Lock()
					acked[d.ID]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(acked) != tasks {
		t.Fatalf("%d of %d tasks acknowledged", len(acked), tasks)
	}
	for id, n := range acked {
		if !want[id] || n != 1 {
			t.Fatalf("task %s acknowledged %d times (known: %v)", id, n, want[id])
		}
	}
	if s := stats(t, a, "bulk"); s.Ready+s.InFlight+s.Delayed+s.Dead != 0 || s.Counters["redelivered"] == 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
