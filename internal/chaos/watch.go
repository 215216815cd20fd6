package chaos

import (
	"context"
	"sync"
	"time"
)

// sample is one observation of an instance by the runner.
type sample struct {
	start, end time.Time // request sent, answer read
	value      float64   // /readyz status, or a metric's value (-1: no answer)
}

// watcher polls each instance on a fixed schedule, each poll in its own
// goroutine, so a poll that waits on a stalled Redis does not delay the
// next: samples keep their timing even while answers are slow.
type watcher struct {
	mu      sync.Mutex
	samples map[string][]sample
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// watch starts polling probe(instance) every interval until stop.
func watch(ctx context.Context, every time.Duration, insts []*Redlane, probe func(context.Context, *Redlane) float64) *watcher {
	ctx, cancel := context.WithCancel(ctx)
	w := &watcher{samples: map[string][]sample{}, cancel: cancel}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			for _, in := range insts {
				w.wg.Add(1)
				go func() {
					defer w.wg.Done()
					s := sample{start: time.Now()}
					s.value = probe(ctx, in)
					s.end = time.Now()
					if ctx.Err() != nil {
						return
					}
					w.mu.Lock()
					w.samples[in.Name] = append(w.samples[in.Name], s)
					w.mu.Unlock()
				}()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// watchReady polls GET /readyz.
func watchReady(ctx context.Context, insts ...*Redlane) *watcher {
	return watch(ctx, 100*time.Millisecond, insts, func(ctx context.Context, r *Redlane) float64 {
		return float64(r.Ready(ctx))
	})
}

// watchMetric polls the sum of the named samples on /metrics.
func watchMetric(ctx context.Context, names []string, insts ...*Redlane) *watcher {
	return watch(ctx, 250*time.Millisecond, insts, func(ctx context.Context, r *Redlane) float64 {
		m, err := r.Metrics(ctx)
		if err != nil {
			return -1
		}
		v := 0.0
		for _, n := range names {
			v += m[n]
		}
		return v
	})
}

func (w *watcher) stop() {
	w.cancel()
	w.wg.Wait()
}

// series is an instance's samples in order of their answers.
func (w *watcher) series(name string) []sample {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]sample(nil), w.samples[name]...)
}

// firstSent is the first sample sent at or after t that satisfies ok.
func firstSent(ss []sample, t time.Time, ok func(float64) bool) (sample, bool) {
	for _, s := range ss {
		if !s.start.Before(t) && ok(s.value) {
			return s, true
		}
	}
	return sample{}, false
}

// settledAfter is when the series last changed to satisfy ok for good:
// the answer time of the first sample after the last one (sent after t)
// that did not. It is false when the last sample does not satisfy ok.
func settledAfter(ss []sample, t time.Time, ok func(float64) bool) (time.Time, bool) {
	var at time.Time
	good := false
	for _, s := range ss {
		if s.start.Before(t) {
			continue
		}
		switch {
		case !ok(s.value):
			good = false
		case !good:
			good, at = true, s.end
		}
	}
	return at, good
}

// countAnswered counts samples answered in [from, to) that satisfy ok.
func countAnswered(ss []sample, from, to time.Time, ok func(float64) bool) int {
	n := 0
	for _, s := range ss {
		if !s.end.Before(from) && s.end.Before(to) && ok(s.value) {
			n++
		}
	}
	return n
}

func is(v float64) func(float64) bool      { return func(x float64) bool { return x == v } }
func isNot(v float64) func(float64) bool   { return func(x float64) bool { return x != v } }
func atLeast(v float64) func(float64) bool { return func(x float64) bool { return x >= v } }
