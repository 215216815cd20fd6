package chaos

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

// redisKill: Redis killed (kill -9) under HTTP load, restarted after the
// outage. Goals: cache reads never fail (database fallback); /readyz is 503
// while Redis is gone and 200 within 2 s of its return; authenticated
// requests answer 503 with Retry-After, never 500; the rate-limited route
// answers within its decision deadline, 200 when it fails open and 503
// when it fails closed.
// killRace is how long after kill -9 a request may still be answered from
// what an instance knew before (its tracked session copies): the time its
// connections take to read EOF, which the instance logs as "tracking: lost".
const killRace = 50 * time.Millisecond

func redisKill(ctx context.Context, e *Env, p profile, r *Result) error {
	rd, insts, err := e.standalone(ctx)
	if err != nil {
		return err
	}
	restart := func() error { return rd.Restart(ctx) }
	o, err := e.outage(ctx, insts, p, p.warm, do(rd.Kill), restart)
	if err != nil {
		return err
	}
	recs, ready, t0, back, end := o.recs, o.ready, o.t0, o.back, time.Now()

	users := statsOf(recs, kindUser, time.Time{}, end)
	r.Goal(users.n > 0 && users.ok == users.n, "0 non-2xx cache reads",
		"Redis down %s: cache reads %d, non-2xx %d", ms(back.Sub(t0)), users.n, users.n-users.ok)
	readiness(r, ready, insts, t0, back)

	// A request sent as Redis dies races the kill: until its connections
	// report EOF an instance still answers from the sessions it tracks
	// (a copy nothing could have revoked since). Those of the first
	// killRace are shown apart; every later one must be refused.
	racing := statsOf(recs, kindSession, t0, t0.Add(killRace))
	auth := statsOf(recs, kindSession, t0.Add(killRace), back)
	r.Goal(auth.s500 == 0 && auth.noRetry == 0 && auth.n == auth.s5xx, "authenticated requests 503 + Retry-After, never 500",
		"auth while down %s (without Retry-After %d; sent in the kill's first %s: %s)", statuses(auth.status), auth.noRetry, ms(killRace), statuses(racing.status))
	after := statsOf(recs, kindSession, back.Add(2*time.Second), end)
	r.Goal(after.n > 0 && after.ok == after.n, "authenticated requests 200 again 2s after Redis is back",
		"auth from 2s after %s", statuses(after.status))
	rateLimited(r, recs, t0, back, p.decision+p.slack)
	return nil
}

// readiness judges /readyz around an outage [t0, back): 503 answered
// during it (after the first failed check), 200 for good within 2 s of
// back. A check sent during the outage that is answered after it may say
// 200: it tells the truth at the time of its answer.
func readiness(r *Result, w *watcher, insts []*Redlane, t0, back time.Time) {
	for _, in := range insts {
		ss := w.series(in.Name)
		down, ok := firstSent(ss, t0, isNot(200))
		if !ok || !down.end.Before(back) {
			r.Goal(false, in.Name+" /readyz 503 while Redis is down", "%s /readyz never 503", in.Name)
			continue
		}
		lies := countAnswered(ss, down.end, back, is(200))
		at, good := settledAfter(ss, back, is(200))
		delay := max(0, at.Sub(back))
		r.Goal(lies == 0 && good && delay <= 2*time.Second, in.Name+" /readyz 503 during, 200 within 2s after",
			"%s /readyz 503 %s after the fault (200 while down: %d), 200 %s after Redis is back", in.Name, ms(down.end.Sub(t0)), lies, ms(delay))
		if !good {
			r.Figure("%s /readyz not 200 at the end", in.Name)
		}
	}
}

// rateLimited judges the demo route: requests sent during [from, to) get
// the "open" policy's 200 (GET) or the "closed" one's 503 (HEAD); those
// sent from one budget earlier on (already waiting when the fault began)
// answer within budget.
func rateLimited(r *Result, recs []httpRecord, from, to time.Time, budget time.Duration) {
	open := statsOf(recs, kindRLOpen, from, to)
	closed := statsOf(recs, kindRLClosed, from, to)
	openLat := statsOf(recs, kindRLOpen, from.Add(-budget), to).lat.max()
	closedLat := statsOf(recs, kindRLClosed, from.Add(-budget), to).lat.max()
	r.Goal(open.n > 0 && open.ok == open.n && openLat <= budget, fmt.Sprintf("failOpen route 200 within %s", ms(budget)),
		"failOpen %s max %s", statuses(open.status), ms(openLat))
	r.Goal(closed.n > 0 && closed.status[503] == closed.n && closedLat <= budget, fmt.Sprintf("failClosed route 503 within %s", ms(budget)),
		"failClosed %s max %s", statuses(closed.status), ms(closedLat))
}

// redisPause: Redis stopped with SIGSTOP under HTTP load, then continued.
// Goals: no request waits beyond its budget (Redis deadline 1 s, rate-limit
// decision 100 ms) plus 100 ms; /readyz 503 during, 200 after; goroutines
// and Redis connections back to their baseline afterwards.
func redisPause(ctx context.Context, e *Env, p profile, r *Result) error {
	rd, insts, err := e.standalone(ctx)
	if err != nil {
		return err
	}
	// Baselines with no load running: goroutines of idle instances, and
	// Redis connections after one load has grown the pools.
	warm, err := e.startHTTPLoad(ctx, "http-warm", insts, standaloneLoad)
	if err != nil {
		return err
	}
	if err := sleep(ctx, p.warm); err != nil {
		return err
	}
	if _, err := warm.stop(); err != nil {
		return err
	}
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	g0, c0, err := baseline(ctx, rd, insts)
	if err != nil {
		return err
	}
	o, err := e.outage(ctx, insts, p, time.Second, rd.Pause, rd.Resume)
	if err != nil {
		return err
	}
	recs, ready, t0, back := o.recs, o.ready, o.t0, o.back
	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	g1, c1, err := baseline(ctx, rd, insts)
	if err != nil {
		return err
	}

	// Requests sent while Redis was stopped answer within budget, and so
	// do those already waiting on it when it stopped (sent up to one budget
	// before).
	withinBudget(r, recs, []string{kindUser, kindSession}, t0, back, p.slack)
	rateLimited(r, recs, t0, back, p.decision+p.slack)
	readiness(r, ready, insts, t0, back)
	r.Goal(g1 <= g0+10, "goroutines back to baseline (+10)", "goroutines idle before %.0f, after %.0f", g0, g1)
	// go-redis keeps the connections a burst opened, idle, up to its pool
	// sizes (ConnMaxIdleTime 30 min): PoolSize (10 per CPU) plus the
	// pipeline pool (10), plus each instance's pub/sub connections. More
	// than that is a leak.
	bound := len(insts) * (10*runtime.GOMAXPROCS(0) + 10 + 2)
	r.Goal(c1 <= max(c0, bound), fmt.Sprintf("Redis connections within the pools (%d)", bound),
		"Redis connections before %d, after %d (pool bound %d)", c0, c1, bound)
	return nil
}

// withinBudget judges requests of kinds during a fault [from, to): each
// answers within the Redis deadline plus slack (those sent up to one
// budget before from too: they were waiting when it began), and fails, if
// at all, with 503 and Retry-After, never 500 or no answer.
func withinBudget(r *Result, recs []httpRecord, kinds []string, from, to time.Time, slack time.Duration) {
	budget := redisDeadline + slack
	for _, kind := range kinds {
		k := statsOf(recs, kind, from, to)
		lat := statsOf(recs, kind, from.Add(-budget), to).lat
		r.Goal(k.n > 0 && lat.max() <= budget && k.s500 == 0 && k.noAnswer == 0 && k.noRetry == 0,
			fmt.Sprintf("%s within %s, failing only with 503 + Retry-After", kind, ms(budget)),
			"%s %s p99 %s max %s", kind, statuses(k.status), ms(lat.quantile(0.99)), ms(lat.max()))
	}
}

// outageRun is what the HTTP load and the readiness watch saw around a
// fault that began at t0 and was undone at back.
type outageRun struct {
	recs     []httpRecord
	ready    *watcher
	t0, back time.Time
}

// outage runs the standalone HTTP load and watches /readyz: warm, then
// inject the fault, hold it for the profile's outage, heal it, and keep
// the load running for the profile's recovery time.
func (e *Env) outage(ctx context.Context, insts []*Redlane, p profile, warm time.Duration, inject, heal func() error) (outageRun, error) {
	var o outageRun
	load, err := e.startHTTPLoad(ctx, "http", insts, standaloneLoad)
	if err != nil {
		return o, err
	}
	o.ready = watchReady(ctx, insts...)
	defer o.ready.stop()
	err = steps(
		wait(ctx, warm),
		mark(&o.t0), inject, wait(ctx, p.outage),
		heal, mark(&o.back),
		wait(ctx, p.recover), do(o.ready.stop),
	)
	if err != nil {
		return o, err
	}
	o.recs, err = load.stop()
	return o, err
}

// baseline reads the instances' goroutines (go_goroutines) and Redlane's
// connections to Redis (CLIENT LIST, name=redlane).
func baseline(ctx context.Context, rd *Redis, insts []*Redlane) (float64, int, error) {
	g := 0.0
	for _, in := range insts {
		m, err := in.Metrics(ctx)
		if err != nil {
			return 0, 0, err
		}
		g += m["go_goroutines"]
	}
	cs, err := rd.Clients(ctx)
	if err != nil {
		return 0, 0, err
	}
	if list, err := rd.Client().ClientList(ctx).Result(); err == nil {
		rd.env.note("client-list", list)
	}
	return g, cs["redlane"], nil
}

// chatRedisRestart: Redis (AOF, appendfsync always) killed with -9 and
// restarted while messages are published through both instances. Goals:
// every publish answered 2xx is in history afterwards; live members get
// every message or a gap naming the lost range; members that were offline
// across the restart resume with ?since= and get every later message, in
// order, once.
func chatRedisRestart(ctx context.Context, e *Env, p profile, r *Result) error {
	rd, insts, err := e.standalone(ctx)
	if err != nil {
		return err
	}
	rooms := []string{"restart-0", "restart-1", "restart-2", "restart-3"}
	chat, err := e.startChat(ctx, insts, insts, rooms, p.chatSockets, p.resumers, p.publishRate)
	if err != nil {
		return err
	}
	var t0, back time.Time
	err = steps(
		chat.warmThenOffline(ctx, p.warm),
		mark(&t0), do(rd.Kill), wait(ctx, p.outage/2),
		func() error { return rd.Restart(ctx) }, mark(&back),
		wait(ctx, p.recover),
		chat.backOnline(ctx),
	)
	if err != nil {
		return err
	}
	o, err := chat.finish(ctx, insts, 2*time.Second)
	if err != nil {
		return err
	}
	n, ok, st, _ := publishStats(o.pubs, nil, t0, back.Add(p.recover))
	r.Figure("Redis down %s; publishes from the kill on: %s", ms(back.Sub(t0)), statuses(st))
	last := lastFailure(o.pubs, nil, back)
	r.Goal(n > 0 && ok > 0 && last.Sub(back) <= 2*time.Second, "publishes succeed within 2s of Redis' return",
		"publishes fail until %s after Redis is back", ms(max(0, last.Sub(back))))
	judgeChat(r, chat, o, true)
	return nil
}

// lastFailure is the send time of the last failed publish to rooms (nil:
// any) sent after from; from itself when none failed.
func lastFailure(pubs []publishRecord, rooms map[string]bool, from time.Time) time.Time {
	last := from
	for _, p := range pubs {
		at := time.UnixMilli(p.At)
		if p.ID == "" && (rooms == nil || rooms[p.Room]) && at.After(last) {
			last = at
		}
	}
	return last
}
