package chaos

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// queueVisibility is the workers' visibility timeout: a task claimed by a
// worker that dies is delivered again this long after its claim.
const queueVisibility = 2 * time.Second

// queueWorkerKill: two workers (separate processes, each through its own
// instance) drain the queue; one is killed with kill -9 while it holds
// claimed tasks and a replacement starts, as a supervisor would. Goals:
// every enqueued task is processed once the visibility timeout has passed
// (duplicates are counted: at-least-once), nothing is dead-lettered that
// did not exhaust its attempts, the queue ends empty.
func queueWorkerKill(ctx context.Context, e *Env, p profile, r *Result) error {
	_, insts, err := e.standalone(ctx)
	if err != nil {
		return err
	}
	const queue = "chaos-tasks"
	ids, err := enqueue(ctx, insts, queue, p.tasks)
	if err != nil {
		return err
	}
	worker := func(name string, in *Redlane) (*clientProc, error) {
		w, err := e.startClient(name, "worker", "-targets", in.URL, "-queue", queue, "-name", name,
			"-count", "5", "-visibility", queueVisibility.String(), "-work", "10ms")
		if err != nil {
			return nil, err
		}
		_, err = w.waitReady(ctx, 10*time.Second)
		return w, err
	}
	w1, err := worker("worker-1", insts[0])
	if err != nil {
		return err
	}
	w2, err := worker("worker-2", insts[1])
	if err != nil {
		return err
	}
	// Kill worker-1 once it has done a quarter of its share and holds
	// claimed tasks it has not worked on yet.
	var killedAt time.Time
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		l, _ := readWorkerLog(w1.Out)
		if len(l.handled) >= p.tasks/8 && l.unhandled > 0 {
			w1.Kill()
			killedAt = time.Now()
			break
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
	if killedAt.IsZero() {
		return fmt.Errorf("worker-1 never held a task to be killed in (%s)", w1.Tail(300))
	}
	l1, _ := readWorkerLog(w1.Out)
	w3, err := worker("worker-1b", insts[0])
	if err != nil {
		return err
	}
	// Wait for the queue to drain: nothing ready, in flight or delayed.
	var st queueStats
	drained := time.Duration(-1)
	for deadline := time.Now().Add(queueVisibility + 60*time.Second); time.Now().Before(deadline); {
		if st, err = stats(ctx, insts[1], queue); err == nil && st.Ready+st.InFlight+st.Delayed == 0 {
			drained = time.Since(killedAt)
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	if err := finishAll(w2, w3); err != nil {
		return err
	}
	done := map[string]int{}
	handlings, stale := 0, 0
	for _, w := range []*clientProc{w1, w2, w3} {
		l, err := readWorkerLog(w.Out)
		if err != nil {
			return err
		}
		for _, id := range l.handled {
			done[id]++
		}
		handlings += len(l.handled)
		stale += l.stale
	}
	missing := 0
	for _, id := range ids {
		if done[id] == 0 {
			missing++
		}
	}
	r.Goal(st.Counters["redelivered"] > 0, "the killed worker held tasks (redelivered > 0)",
		"%d tasks, worker killed -9 holding %d claimed tasks (%d not worked on)", len(ids), l1.held, l1.unhandled)
	r.Goal(missing == 0 && drained >= 0, "processed == enqueued",
		"processed %d of %d, queue empty %s after the kill (visibility %s)", len(ids)-missing, len(ids), drainedIn(drained), ms(queueVisibility))
	r.Figure("redelivered %d, duplicates %d (%d late acks refused 409)", st.Counters["redelivered"], handlings-len(done), stale)
	r.Goal(st.Dead == 0, "no dead letters without exhausted attempts", "dead letters %d", st.Dead)
	return nil
}

func drainedIn(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return ms(d)
}

// enqueue adds n tasks through the instances (8 at a time) and returns the
// ids of those answered 201.
func enqueue(ctx context.Context, insts []*Redlane, queue string, n int) ([]string, error) {
	ids := make([]string, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var ans struct {
				ID string `json:"id"`
			}
			in := insts[i%len(insts)]
			status, err := call(ctx, "POST", in.URL+"/queues/"+queue+"/tasks", fmt.Sprintf(`{"payload":{"n":%d}}`, i), &ans)
			if err != nil || status != http.StatusCreated {
				errs <- fmt.Errorf("enqueue %d: status %d: %v", i, status, err)
				return
			}
			ids[i] = ans.ID
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return ids, nil
}

// queueStats is GET /queues/{name}.
type queueStats struct {
	Ready    int64            `json:"ready"`
	InFlight int64            `json:"inFlight"`
	Delayed  int64            `json:"delayed"`
	Dead     int64            `json:"dead"`
	Counters map[string]int64 `json:"counters"`
}

func stats(ctx context.Context, in *Redlane, queue string) (queueStats, error) {
	var st queueStats
	status, err := call(ctx, "GET", in.URL+"/queues/"+queue, "", &st)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("GET /queues/%s: status %d", queue, status)
	}
	return st, err
}
