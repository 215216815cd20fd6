package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/queue"
	"github.com/redlane/redlane/internal/redistest"
)

// TestQueueFeatures covers pause, retention, priorities and schedules on
// standalone Redis and a Cluster.
func TestQueueFeatures(t *testing.T) {
	for _, b := range redistest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			rc1, rc2 := b.Open(t)
			cfg := config.Default()
			cfg.Spec.Queue.CompletedRetention = config.D(time.Hour)
			cfg.Spec.Queue.CompletedMax = 3
			cfg.Spec.Queue.ResultMaxBytes = 100
			store := config.NewStore(cfg, "test")
			p1, p2 := queue.NewBroker(rc1, nil, store), queue.NewBroker(rc2, nil, store)
			t.Run("pause and resume", func(t *testing.T) { testPause(t, p1, p2) })
			t.Run("completed tasks kept with results", func(t *testing.T) { testCompleted(t, p1, store) })
			t.Run("dead letters expire after their retention", func(t *testing.T) { testDeadRetention(t, p1, store) })
			t.Run("weighted priorities share out claims by weight", func(t *testing.T) { testWeighted(t, p1) })
			t.Run("strict priorities", func(t *testing.T) { testStrict(t, p1) })
			t.Run("three schedulers enqueue each occurrence once", func(t *testing.T) { testScheduleOnce(t, p1, p2) })
			t.Run("missed occurrences: skip and catch up", func(t *testing.T) { testMissed(t, p1) })
			t.Run("schedule pause and trigger", func(t *testing.T) { testSchedulePause(t, p1) })
		})
	}
}

func testPause(t *testing.T, p1, p2 *queue.Broker) {
	e := enqueue(t, p1, "pq", `{"n":1}`, queue.EnqueueOptions{})
	if changed, err := p1.Pause(ctx, "pq"); err != nil || !changed {
		t.Fatalf("pause: %v %v", changed, err)
	}
	if changed, _ := p2.Pause(ctx, "pq"); changed {
		t.Error("pausing a paused queue reported a change")
	}
	enqueue(t, p2, "pq", `{"n":2}`, queue.EnqueueOptions{}) // still accepted
	if d := claim1(t, p2, "pq", time.Second, 200*time.Millisecond); d != nil {
		t.Fatalf("a paused queue delivered %s", d.ID)
	}
	if s := stats(t, p1, "pq"); !s.Paused || s.Ready != 2 {
		t.Fatalf("stats of a paused queue: %+v", s)
	}
	// a claim across queues passes over the paused one
	got, err := p1.ClaimPriorities(ctx, queue.Priorities{Queues: []queue.Priority{{Queue: "pq", Weight: 10}, {Queue: "pq-other", Weight: 1}}}, "w", 1, time.Second, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("claim across a paused queue: %v %v", got, err)
	}
	if changed, err := p2.Resume(ctx, "pq"); err != nil || !changed {
		t.Fatalf("resume: %v %v", changed, err)
	}
	d := claim1(t, p1, "pq", time.Second, 0)
	if d == nil || d.ID != e.ID || d.Queue != "pq" {
		t.Fatalf("after resume the first task comes: %+v", d)
	}
	if s := stats(t, p1, "pq"); s.Paused {
		t.Error("stats still say paused")
	}
}

func testCompleted(t *testing.T, b *queue.Broker, store *config.Store) {
	var ids []string
	for i := range 5 {
		enqueue(t, b, "done", `{"i":`+string(rune('0'+i))+`}`, queue.EnqueueOptions{UniqueKey: "u" + string(rune('0'+i))})
		d := claim1(t, b, "done", time.Second, 0)
		if err := b.Ack(ctx, "done", d.ID, d.Receipt, json.RawMessage(`{"ok":`+string(rune('0'+i))+`}`)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	tasks, total, err := b.Completed(ctx, "done", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	// completedMax 3: the newest three, newest first
	if total != 3 || len(tasks) != 3 || tasks[0].ID != ids[4] || tasks[2].ID != ids[2] {
		t.Fatalf("completed: total %d, %+v", total, tasks)
	}
	if tasks[0].State != "completed" || string(tasks[0].Result) != `{"ok":4}` || tasks[0].CompletedAt == nil {
		t.Fatalf("completed task: %+v", tasks[0])
	}
	if _, err := b.Get(ctx, "done", ids[0]); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("the oldest completed task beyond completedMax: %v", err)
	}
	// a completed task frees its unique key
	if e := enqueue(t, b, "done", `{}`, queue.EnqueueOptions{UniqueKey: "u4"}); e.Duplicate {
		t.Fatal("a completed task still holds its unique key")
	}
	// results are bounded and must be JSON; a refused ack changes nothing
	d := claim1(t, b, "done", time.Second, 0)
	for _, bad := range []string{`{"x":"` + string(make([]byte, 200)) + `"}`, `{oops`} {
		if err := b.Ack(ctx, "done", d.ID, d.Receipt, json.RawMessage(bad)); !errors.Is(err, queue.ErrInvalid) {
			t.Fatalf("ack with result %.20q: %v", bad, err)
		}
	}
	if task, _ := b.Get(ctx, "done", d.ID); task.State != "inflight" {
		t.Fatalf("a refused ack changed the task: %+v", task)
	}
	// retention 0: an acked task is gone at once, and trimming empties the list
	cfg := *store.Current()
	cfg.Spec.Queue.CompletedRetention = config.D(0)
	store.Apply(&cfg)
	defer func() {
		cfg.Spec.Queue.CompletedRetention = config.D(time.Hour)
		store.Apply(&cfg)
	}()
	if err := b.Ack(ctx, "done", d.ID, d.Receipt, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "done", d.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("acked without retention: %v", err)
	}
	if _, total, _ := b.Completed(ctx, "done", 0, 10); total != 0 {
		t.Fatalf("with retention 0, %d completed tasks are still kept", total)
	}
}

func testDeadRetention(t *testing.T, b *queue.Broker, store *config.Store) {
	enqueue(t, b, "dr", `{}`, queue.EnqueueOptions{MaxAttempts: 1, UniqueKey: "once"})
	d := claim1(t, b, "dr", time.Second, 0)
	if res, err := b.Nack(ctx, "dr", d.ID, d.Receipt, "boom", nil); err != nil || !res.Dead {
		t.Fatalf("nack: %+v %v", res, err)
	}
	cfg := *store.Current()
	cfg.Spec.Queue.DeadRetention = config.D(50 * time.Millisecond)
	store.Apply(&cfg)
	defer func() {
		cfg.Spec.Queue.DeadRetention = config.D(0)
		store.Apply(&cfg)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for stats(t, b, "dr").Dead != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the dead letter outlived its retention")
		}
		claim1(t, b, "dr", time.Second, 0) // claims trim
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := b.Get(ctx, "dr", d.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("expired dead letter: %v", err)
	}
	if s := stats(t, b, "dr"); s.Counters["deadExpired"] != 1 {
		t.Fatalf("counters: %v", s.Counters)
	}
	if e := enqueue(t, b, "dr", `{}`, queue.EnqueueOptions{UniqueKey: "once"}); e.Duplicate {
		t.Fatal("an expired dead letter still holds its unique key")
	}
}

func fill(t *testing.T, b *queue.Broker, q string, n int) {
	t.Helper()
	for range n {
		enqueue(t, b, q, `{}`, queue.EnqueueOptions{})
	}
}

func testWeighted(t *testing.T, b *queue.Broker) {
	fill(t, b, "w-critical", 700)
	fill(t, b, "w-default", 400)
	fill(t, b, "w-low", 200)
	b.Rand = mrand.New(mrand.NewPCG(1, 2))
	defer func() { b.Rand = nil }()
	p := queue.Priorities{Queues: []queue.Priority{{Queue: "w-critical", Weight: 6}, {Queue: "w-default", Weight: 3}, {Queue: "w-low", Weight: 1}}}
	const claims = 1000
	served := map[string]int{}
	for range claims {
		got, err := b.ClaimPriorities(ctx, p, "w", 1, time.Minute, 0)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim: %v %v", got, err)
		}
		served[got[0].Queue]++
	}
	// every queue had tasks throughout: served in the ratio of the weights,
	// within five standard deviations of a binomial draw
	for _, q := range p.Queues {
		want := float64(claims) * float64(q.Weight) / 10
		sd := math.Sqrt(want * (1 - float64(q.Weight)/10))
		if got := float64(served[q.Queue]); math.Abs(got-want) > 5*sd {
			t.Errorf("%s served %v of %d claims, want %.0f ± %.0f", q.Queue, got, claims, want, 5*sd)
		}
	}
	t.Logf("served %v of %d claims (weights 6:3:1)", served, claims)
}

func testStrict(t *testing.T, b *queue.Broker) {
	fill(t, b, "s-high", 3)
	fill(t, b, "s-low", 3)
	p := queue.Priorities{Strict: true, Queues: []queue.Priority{{Queue: "s-low", Weight: 1}, {Queue: "s-high", Weight: 5}}}
	var order []string
	for range 6 {
		got, err := b.ClaimPriorities(ctx, p, "w", 1, time.Minute, 0)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim: %v %v", got, err)
		}
		order = append(order, got[0].Queue)
	}
	want := []string{"s-high", "s-high", "s-high", "s-low", "s-low", "s-low"}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("strict order %v, want %v", order, want)
		}
	}
	// one claim of several fills from the next queue once the first is empty
	fill(t, b, "s-high", 1)
	fill(t, b, "s-low", 2)
	got, err := b.ClaimPriorities(ctx, p, "w", 3, time.Minute, 0)
	if err != nil || len(got) != 3 || got[0].Queue != "s-high" || got[2].Queue != "s-low" {
		t.Fatalf("claim of 3 across queues: %+v %v", got, err)
	}
	_, err = b.ClaimPriorities(ctx, queue.Priorities{Queues: []queue.Priority{{Queue: "a", Weight: 0}}}, "w", 1, time.Second, 0)
	if !errors.Is(err, queue.ErrInvalid) {
		t.Fatalf("weight 0: %v", err)
	}
}

// fastClock runs factor times faster than real time from now.
func fastClock(factor time.Duration) func() time.Time {
	start := time.Now()
	return func() time.Time { return start.Add(time.Since(start) * factor) }
}

func scheduleStore(sc ...config.Schedule) *config.Store {
	cfg := config.Default()
	cfg.Spec.Queue.Schedules = sc
	config.SetDefaults(cfg) // the schedules' own defaults
	return config.NewStore(cfg, "test")
}

// drain claims and acks every ready task of q and returns them.
func drain(t *testing.T, b *queue.Broker, q string) []queue.Task {
	t.Helper()
	var out []queue.Task
	for {
		got, err := b.Claim(ctx, q, "w", 100, time.Minute, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			return out
		}
		for _, d := range got {
			task, err := b.Get(ctx, q, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, task)
			if err := b.Ack(ctx, q, d.ID, d.Receipt, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func testScheduleOnce(t *testing.T, p1, p2 *queue.Broker) {
	store := scheduleStore(config.Schedule{Name: "every-second", Queue: "sched-once", Schedule: "@every 1s", Payload: json.RawMessage(`{"job":"tick"}`)})
	clock := fastClock(100) // 100 occurrences per real second
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var scheds []*queue.Scheduler
	for _, b := range []*queue.Broker{p1, p2, p1} { // three instances, each its own Scheduler and Broker
		b := queue.NewBroker(b.Redis(), nil, store)
		s := queue.NewScheduler(b, store, nil, nil)
		s.Clock, s.Tick = clock, 5*time.Millisecond
		scheds = append(scheds, s)
		wg.Add(1)
		go func() { defer wg.Done(); s.Run(sctx) }()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := scheds[0].Schedules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if list[0].Enqueued >= 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d occurrences in 30 s", list[0].Enqueued)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	wg.Wait()
	list, _ := scheds[0].Schedules(ctx)
	tasks := drain(t, p1, "sched-once")
	if int64(len(tasks)) != list[0].Enqueued || list[0].Skipped != 0 {
		t.Fatalf("%d tasks for %d occurrences enqueued (%d skipped)", len(tasks), list[0].Enqueued, list[0].Skipped)
	}
	seen := map[int64]bool{}
	var first, last int64 = math.MaxInt64, 0
	for _, task := range tasks {
		if task.Schedule != "every-second" || task.Occurrence == nil || string(task.Payload) != `{"job":"tick"}` {
			t.Fatalf("scheduled task: %+v", task)
		}
		o := task.Occurrence.UnixMilli()
		if seen[o] {
			t.Fatalf("occurrence %s enqueued twice", task.Occurrence)
		}
		seen[o] = true
		first, last = min(first, o), max(last, o)
	}
	// every occurrence between the first and the last, once: none lost
	if n := (last-first)/1000 + 1; n != int64(len(tasks)) {
		t.Fatalf("%d tasks for the %d occurrences from %s to %s", len(tasks), n, time.UnixMilli(first), time.UnixMilli(last))
	}
	t.Logf("3 schedulers: %d occurrences, each enqueued once", len(tasks))
}

// manualClock is a clock tests move by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testMissed(t *testing.T, b *queue.Broker) {
	for _, tc := range []struct {
		missed               string
		enqueued, skipped    int64
		wantFirstOccurrence  time.Duration // after the start
		wantLastOccurrenceAt time.Duration
	}{
		{"skip", 1, 9, 10 * time.Minute, 10 * time.Minute},
		{"catchUp", 5, 5, 6 * time.Minute, 10 * time.Minute},
	} {
		t.Run(tc.missed, func(t *testing.T) {
			q := "missed-" + tc.missed
			store := scheduleStore(config.Schedule{Name: q, Queue: q, Schedule: "@every 1m", Missed: tc.missed,
				MissedGrace: config.D(30 * time.Second), CatchUpLimit: 5})
			start := time.Now().Truncate(time.Second)
			clock := &manualClock{t: start}
			s := queue.NewScheduler(b, store, nil, nil)
			s.Clock = clock.now
			if err := s.RunDue(ctx); err != nil { // starts the schedule: nothing is due yet
				t.Fatal(err)
			}
			clock.add(10 * time.Minute) // ten occurrences while "down"
			if err := s.RunDue(ctx); err != nil {
				t.Fatal(err)
			}
			list, err := s.Schedules(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if list[0].Enqueued != tc.enqueued || list[0].Skipped != tc.skipped {
				t.Fatalf("enqueued %d, skipped %d; want %d, %d", list[0].Enqueued, list[0].Skipped, tc.enqueued, tc.skipped)
			}
			tasks := drain(t, b, q)
			if int64(len(tasks)) != tc.enqueued {
				t.Fatalf("%d tasks", len(tasks))
			}
			if got := tasks[0].Occurrence.Sub(start); got != tc.wantFirstOccurrence {
				t.Errorf("first occurrence run: start+%s, want start+%s", got, tc.wantFirstOccurrence)
			}
			if got := tasks[len(tasks)-1].Occurrence.Sub(start); got != tc.wantLastOccurrenceAt {
				t.Errorf("last occurrence run: start+%s, want start+%s", got, tc.wantLastOccurrenceAt)
			}
			if want := start.Add(11 * time.Minute); !list[0].NextRunAt.Equal(want) {
				t.Errorf("next run %s, want %s", list[0].NextRunAt, want)
			}
		})
	}
}

func testSchedulePause(t *testing.T, b *queue.Broker) {
	store := scheduleStore(config.Schedule{Name: "paused", Queue: "sched-paused", Schedule: "*/5 * * * *", TimeZone: "Europe/Paris"})
	start := time.Date(2026, 12, 4, 10, 0, 30, 0, time.UTC)
	clock := &manualClock{t: start}
	s := queue.NewScheduler(b, store, nil, nil)
	s.Clock = clock.now
	if err := s.SetPaused(ctx, "paused", true); err != nil {
		t.Fatal(err)
	}
	clock.add(5 * time.Minute) // 10:05 is due
	if err := s.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if tasks := drain(t, b, "sched-paused"); len(tasks) != 0 {
		t.Fatalf("a paused schedule enqueued %d tasks", len(tasks))
	}
	id, err := s.Trigger(ctx, "paused")
	if err != nil {
		t.Fatal(err)
	}
	tasks := drain(t, b, "sched-paused")
	if len(tasks) != 1 || tasks[0].ID != id || tasks[0].Schedule != "paused" || tasks[0].Occurrence != nil {
		t.Fatalf("triggered: %+v", tasks)
	}
	if err := s.SetPaused(ctx, "paused", false); err != nil {
		t.Fatal(err)
	}
	clock.add(5 * time.Minute) // 10:10
	if err := s.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	tasks = drain(t, b, "sched-paused")
	if len(tasks) != 1 || !tasks[0].Occurrence.Equal(time.Date(2026, 12, 4, 10, 10, 0, 0, time.UTC)) {
		t.Fatalf("after resume: %+v", tasks)
	}
	list, _ := s.Schedules(ctx)
	if list[0].Paused || list[0].Enqueued != 1 || list[0].Skipped != 1 || !list[0].NextRunAt.Equal(time.Date(2026, 12, 4, 10, 15, 0, 0, time.UTC)) {
		t.Fatalf("schedule: %+v", list[0])
	}
	if err := s.SetPaused(ctx, "nope", true); !errors.Is(err, queue.ErrNoSchedule) {
		t.Fatalf("unknown schedule: %v", err)
	}
}
