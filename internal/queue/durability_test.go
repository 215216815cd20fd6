package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/queue"
	"github.com/redlane/redlane/internal/redistest"
)

// TestTasksSurviveRedisCrashWithAOF: with appendfsync always, every task
// whose enqueue returned survives a SIGKILL of Redis, and so does the
// in-flight state: a task claimed before the crash comes back after its
// visibility timeout, an acknowledged one never does.
func TestTasksSurviveRedisCrashWithAOF(t *testing.T) {
	rs := redistest.Start(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	b := queue.NewBroker(rs.Redisx(t), nil, nil)
	ids := map[string]bool{}
	for i := 0; i < 50; i++ {
		e, err := b.Enqueue(ctx, "durable", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), queue.EnqueueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids[e.ID] = true
	}
	done, _ := b.Claim(ctx, "durable", "w", 10, time.Minute, 0)
	for _, d := range done {
		if err := b.Ack(ctx, "durable", d.ID, d.Receipt); err != nil {
			t.Fatal(err)
		}
		delete(ids, d.ID)
	}
	held, _ := b.Claim(ctx, "durable", "w", 5, 2*time.Second, 0) // in flight at the crash

	rs.Stop() // SIGKILL
	rs.Restart()

	var got []queue.Delivery
	waitFor(t, func() bool {
		d, err := b.Claim(ctx, "durable", "w", 100, time.Minute, 0)
		got = append(got, d...)
		return err == nil && len(got) >= 35
	})
	// The 5 in flight come back once their visibility timeout passes.
	more, err := b.Claim(ctx, "durable", "w", 100, time.Minute, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, more...)
	seen := map[string]bool{}
	for _, d := range got {
		if !ids[d.ID] || seen[d.ID] {
			t.Fatalf("delivered %s: acknowledged before the crash or twice", d.ID)
		}
		seen[d.ID] = true
	}
	for _, h := range held {
		if !seen[h.ID] {
			t.Errorf("task %s, in flight at the crash, was not delivered again", h.ID)
		}
	}
	if len(seen) != len(ids) {
		t.Fatalf("%d of %d acknowledged-enqueued tasks came back after the crash", len(seen), len(ids))
	}
}

func TestWorker(t *testing.T) {
	rs := redistest.Start(t)
	b := queue.NewBroker(rs.Redisx(t), nil, nil)
	var runs, fails atomic.Int32
	w := &queue.Worker{Broker: b, Queue: "jobs", Concurrency: 2, Visibility: 2 * time.Second, Wait: 200 * time.Millisecond,
		Handle: func(ctx context.Context, d queue.Delivery) error {
			runs.Add(1)
			var p struct{ Fail bool }
			_ = json.Unmarshal(d.Payload, &p)
			if p.Fail && d.Attempt == 1 {
				fails.Add(1)
				return errors.New("transient")
			}
			if string(d.Payload) == `"slow"` {
				time.Sleep(3 * time.Second) // longer than the visibility: the heartbeat keeps it
			}
			if string(d.Payload) == `"panic"` {
				panic("boom")
			}
			return nil
		}}
	wctx, cancel := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(wctx) }()
	for _, p := range []string{`{"fail":true}`, `"slow"`, `"ok"`} {
		if _, err := b.Enqueue(ctx, "jobs", json.RawMessage(p), queue.EnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Enqueue(ctx, "jobs", json.RawMessage(`"panic"`), queue.EnqueueOptions{MaxAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		s, err := b.Stats(ctx, "jobs")
		if err == nil && s.Counters["acked"] == 3 && s.Dead == 1 {
			if s.Counters["redelivered"] != 0 {
				t.Fatalf("the slow task was redelivered despite the heartbeat: %+v", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker did not finish: %+v %v", s, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if runs.Load() != 5 || fails.Load() != 1 {
		t.Fatalf("runs %d fails %d, want 5 and 1", runs.Load(), fails.Load())
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not stop")
	}
}
