package chaos

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"
)

// netDelay is the proxy's delay, each way.
const netDelay = 500 * time.Millisecond

// netFault: the TCP proxy between both instances and Redis drops, delays
// (500 ms each way) or black-holes the traffic for the outage, under HTTP
// load, chat publishes and enqueues. Goals: the cache's and the rate
// limiter's circuit breakers open during the fault and close after it; no
// request waits beyond its budget plus 100 ms; every acknowledged chat
// message and task is still there afterwards; requests succeed again
// within a few seconds.
func netFault(mode ProxyMode) func(ctx context.Context, e *Env, p profile, r *Result) error {
	return func(ctx context.Context, e *Env, p profile, r *Result) error {
		rd, err := e.StartRedis(ctx, "redis")
		if err != nil {
			return err
		}
		px, err := e.StartProxy(rd.Addr())
		if err != nil {
			return err
		}
		insts, err := e.startInstances(ctx, 2, "REDIS_URL=redis://"+px.Addr()+"/0")
		if err != nil {
			return err
		}
		load, err := e.startHTTPLoad(ctx, "http", insts, standaloneLoad+",enqueue=10")
		if err != nil {
			return err
		}
		chat, err := e.startChat(ctx, insts, insts, []string{"net-0", "net-1"}, 8, 0, 10)
		if err != nil {
			return err
		}
		breakers := watchMetric(ctx, []string{"redlane_cache_redis_breaker_state"}, insts...)
		defer breakers.stop()
		limiter := watchMetric(ctx, []string{"redlane_ratelimit_breaker_open"}, insts...)
		defer limiter.stop()
		var t0, healed time.Time
		err = steps(
			wait(ctx, p.warm),
			mark(&t0), do(func() { px.Set(mode, netDelay) }), wait(ctx, p.outage),
			do(func() { px.Set(Pass, 0) }), mark(&healed),
			wait(ctx, p.recover+2*time.Second), do(breakers.stop), do(limiter.stop),
		)
		if err != nil {
			return err
		}
		recs, err := load.stop()
		if err != nil {
			return err
		}
		o, err := chat.finish(ctx, insts, 2*time.Second)
		if err != nil {
			return err
		}
		end := time.Now()

		for _, in := range insts {
			judgeBreaker(r, in.Name+" cache breaker", breakers.series(in.Name), t0, healed, 2)
			judgeBreaker(r, in.Name+" rate-limit breaker", limiter.series(in.Name), t0, healed, 1)
		}
		withinBudget(r, recs, []string{kindUser, kindSession, kindEnqueue}, t0, healed, p.slack)
		rateLimited(r, recs, t0, healed, decisionDeadline+p.slack)
		users := statsOf(recs, kindUser, time.Time{}, end)
		r.Goal(users.ok == users.n, "0 non-2xx cache reads", "cache reads %d, non-2xx %d", users.n, users.n-users.ok)
		// When each kind is back: the end of the streak of failures that
		// runs on from the fault (failures less than a second apart).
		// A failure after a failure-free second is not the fault's: on a
		// loaded 2-core machine a single rate-limit decision can miss its
		// 100 ms deadline at any time. Those are counted and shown.
		var fails []failure
		for _, rec := range recs {
			if rec.Status/100 != 2 && rec.Status >= 0 && rec.Kind != kindRLOpen {
				fails = append(fails, failure{time.UnixMilli(rec.At), rec.Kind})
			}
		}
		for _, pb := range o.pubs {
			if pb.ID == "" {
				fails = append(fails, failure{time.UnixMilli(pb.At), "chat publish"})
			}
		}
		after, lastKind, isolated := recoveredAt(fails, healed)
		// A breaker that probed just before healing stays open for its
		// breakerOpen (2 s) more: 3 s, plus the profile's scheduling slack.
		back := 3*time.Second + 2*p.slack
		r.Goal(after.Sub(healed) <= back, "every kind of request succeeds within "+ms(back)+" of healing",
			"requests fail until %s after healing (the last: %s; %d isolated failures later)", ms(after.Sub(healed)), lastKind, isolated)
		lost, err := lostTasks(ctx, insts[0], loadQueue, recs)
		if err != nil {
			return err
		}
		r.Goal(lost == 0, "every task answered 201 still exists", "acknowledged tasks lost %d", lost)
		judgeChat(r, chat, o, true)
		return nil
	}
}

// judgeBreaker requires a breaker gauge to reach open during [t0, healed)
// and to be back at 0 for good within 5 s after.
func judgeBreaker(r *Result, name string, ss []sample, t0, healed time.Time, open float64) {
	opened, ok := firstSent(ss, t0, atLeast(open))
	closedAt, closed := settledAfter(ss, healed, is(0))
	r.Goal(ok && opened.start.Before(healed.Add(time.Second)) && closed && closedAt.Sub(healed) <= 5*time.Second,
		name+" opens during the fault and closes within 5s",
		"%s open %s, closed %s after healing", name, whenSeen(ok, opened.end.Sub(t0)), whenSeen(closed, closedAt.Sub(healed)))
}

func whenSeen(ok bool, d time.Duration) string {
	if !ok {
		return "never"
	}
	return "at " + ms(d)
}

func lastNon2xx(recs []httpRecord, kind string, from time.Time) time.Time {
	last := from
	for _, rec := range recs {
		at := time.UnixMilli(rec.At)
		if rec.Kind == kind && rec.Status/100 != 2 && rec.Status >= 0 && at.After(last) {
			last = at
		}
	}
	return last
}

// failure is one failed request of the load: when it was sent, and its kind.
type failure struct {
	at   time.Time
	kind string
}

// recoveredAt is when the streak of failures running on from the fault
// ends: the last failure after healed that follows the previous one (or
// healed) within a second; the failures after it are isolated.
func recoveredAt(fails []failure, healed time.Time) (at time.Time, kind string, isolated int) {
	sort.Slice(fails, func(i, j int) bool { return fails[i].at.Before(fails[j].at) })
	at, kind = healed, "none"
	for _, f := range fails {
		switch {
		case !f.at.After(healed):
		case f.at.Sub(at) <= time.Second && isolated == 0:
			at, kind = f.at, f.kind
		default:
			isolated++
		}
	}
	return at, kind, isolated
}

// lostTasks counts tasks answered 201 that the queue no longer knows
// (nothing consumes this queue, so every one must still be there).
func lostTasks(ctx context.Context, in *Redlane, queue string, recs []httpRecord) (int, error) {
	lost := 0
	for _, rec := range recs {
		if rec.Kind != kindEnqueue || rec.ID == "" {
			continue
		}
		status, err := call(ctx, "GET", in.URL+"/queues/"+queue+"/tasks/"+rec.ID, "", nil)
		if err != nil {
			return 0, err
		}
		if status == http.StatusNotFound {
			lost++
		} else if status != http.StatusOK {
			return 0, fmt.Errorf("GET task %s: status %d", rec.ID, status)
		}
	}
	return lost, nil
}
