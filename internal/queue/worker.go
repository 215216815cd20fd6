package queue

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Handler does one task. Returning nil acknowledges it; an error fails it
// (retried with backoff, dead after its last attempt). If the process dies
// or ctx ends mid-task, the task is delivered again after its visibility
// timeout: handlers must be idempotent (at-least-once delivery).
type Handler func(ctx context.Context, d Delivery) error

// Worker runs a Handler over one queue, for Redlane's own background jobs.
// Run it in the service's errgroup; it stops when its context ends.
type Worker struct {
	Broker      *Broker
	Queue       string
	Name        string        // shown in task state; default "redlane"
	Concurrency int           // tasks at once; default 1
	Visibility  time.Duration // default DefaultVisibility; extended while the handler runs
	Wait        time.Duration // long poll of each claim; default 5s
	Handle      Handler
	Logger      *slog.Logger
}

// Run claims and handles tasks until ctx ends. Redis errors are logged and
// retried after a pause; they never stop the worker.
func (w *Worker) Run(ctx context.Context) error {
	if w.Concurrency < 1 {
		w.Concurrency = 1
	}
	if w.Visibility == 0 {
		w.Visibility = DefaultVisibility
	}
	if w.Wait == 0 {
		w.Wait = 5 * time.Second
	}
	if w.Name == "" {
		w.Name = "redlane"
	}
	if w.Logger == nil {
		w.Logger = slog.Default()
	}
	log := w.Logger.With("queue", w.Queue, "worker", w.Name)
	var wg sync.WaitGroup
	for i := 0; i < w.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				got, err := w.Broker.Claim(ctx, w.Queue, w.Name, 1, w.Visibility, w.Wait)
				if err != nil {
					if ctx.Err() == nil {
						log.Warn("claiming a task failed; retrying", "error", err.Error())
						pause(ctx, time.Second)
					}
					continue
				}
				for _, d := range got {
					w.handle(ctx, log, d)
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

// handle runs the handler with a heartbeat that keeps the task invisible
// while it works, then acks or nacks it.
func (w *Worker) handle(ctx context.Context, log *slog.Logger, d Delivery) {
	hctx, stop := context.WithCancel(ctx)
	var beat sync.WaitGroup
	beat.Add(1)
	go func() {
		defer beat.Done()
		t := time.NewTicker(w.Visibility / 2)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				if _, err := w.Broker.Extend(hctx, w.Queue, d.ID, d.Receipt, w.Visibility); err != nil && hctx.Err() == nil {
					log.Warn("extending a task's visibility failed", "task", d.ID, "error", err.Error())
				}
			}
		}
	}()
	err := safeHandle(hctx, w.Handle, d)
	stop()
	beat.Wait()
	if ctx.Err() != nil {
		return // shutting down: the task comes back after its visibility timeout
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err == nil {
		if aerr := w.Broker.Ack(actx, w.Queue, d.ID, d.Receipt, nil); aerr != nil {
			log.Warn("acking a done task failed; it will run again", "task", d.ID, "error", aerr.Error())
		}
		return
	}
	res, nerr := w.Broker.Nack(actx, w.Queue, d.ID, d.Receipt, err.Error(), nil)
	switch {
	case nerr != nil:
		log.Warn("failing a task failed; it will run again after its visibility timeout", "task", d.ID, "error", nerr.Error())
	case res.Dead:
		log.Error("task dead-lettered after its last attempt", "task", d.ID, "attempt", d.Attempt, "error", err.Error())
	default:
		log.Info("task failed; will retry", "task", d.ID, "attempt", d.Attempt, "retry_in", res.RetryAfter.String(), "error", err.Error())
	}
}

func safeHandle(ctx context.Context, h Handler, d Delivery) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("handler panicked: %v", v)
		}
	}()
	return h(ctx, d)
}

// pause waits for d; it reports false when ctx ended first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
