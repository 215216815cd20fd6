package chaos

import (
	"context"
	"fmt"
	"time"
)

// sigtermInstance: SIGTERM to one of two instances while WebSocket members
// are spread over both and messages are published through the other (a
// load balancer stops sending to a pod that is not ready). Goals: /readyz
// turns 503 before any socket closes; every socket of the stopped instance
// gets 1001; each reconnects to the other instance and resumes with 0
// missed messages, no duplicate, in order; the process exits cleanly.
func sigtermInstance(ctx context.Context, e *Env, p profile, r *Result) error {
	_, insts, err := e.standalone(ctx)
	if err != nil {
		return err
	}
	a, b := insts[0], insts[1]
	rooms := make([]string, 10)
	for i := range rooms {
		rooms[i] = fmt.Sprintf("drain-%d", i)
	}
	chat, err := e.startChat(ctx, insts, []*Redlane{b}, rooms, p.sigtermSockets, 0, p.publishRate)
	if err != nil {
		return err
	}
	ready := watch(ctx, 50*time.Millisecond, []*Redlane{a}, func(ctx context.Context, r *Redlane) float64 { return float64(r.Ready(ctx)) })
	defer ready.stop()
	var t0 time.Time
	var exited time.Duration
	waitExit := func() error {
		select {
		case <-a.proc.Done():
			exited = time.Since(t0)
			return nil
		case <-time.After(30 * time.Second):
			return fmt.Errorf("%s still running 30s after SIGTERM", a.Name)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := steps(wait(ctx, p.warm), mark(&t0), a.Terminate, waitExit, wait(ctx, p.recover), do(ready.stop)); err != nil {
		return err
	}
	o, err := chat.finish(ctx, []*Redlane{b}, 2*time.Second)
	if err != nil {
		return err
	}

	onA, got1001, firstClose := 0, 0, time.Duration(-1)
	var away durations // from the 1001 to the join on the other instance
	replayed := 0
	for _, rec := range o.records {
		if len(rec.Joins) > 0 && rec.Joins[0].Target == a.URL {
			onA++
		}
		for _, c := range rec.Closes {
			at := time.UnixMilli(c.At).Sub(t0)
			if c.Target != a.URL || at < 0 {
				continue
			}
			if c.Code == 1001 {
				got1001++
			}
			if firstClose < 0 || at < firstClose {
				firstClose = at
			}
			for _, j := range rec.Joins {
				if j.At >= c.At {
					away = append(away, time.Duration(j.At-c.At)*time.Millisecond)
					replayed += j.Missed
					break
				}
			}
		}
	}
	notReady, ok := firstSent(ready.series(a.Name), t0, isNot(200))
	r.Goal(ok && firstClose >= 0 && notReady.end.Sub(t0) < firstClose, "/readyz 503 before the first socket closes",
		"/readyz 503 %s after SIGTERM, first close at %s", ms(notReady.end.Sub(t0)), ms(firstClose))
	r.Goal(onA > 0 && got1001 == onA, "every socket of the stopped instance gets 1001",
		"%d of %d sockets on %s got 1001", got1001, onA, a.Name)
	r.Figure("back on %s within %s (p50 %s), %d messages replayed on resume", b.Name, ms(away.max()), ms(away.quantile(0.5)), replayed)
	r.Goal(a.proc.ExitErr() == nil, "clean exit", "%s exited %s after SIGTERM (%v)", a.Name, ms(exited), exitStatus(a.proc.ExitErr()))
	n, okPub, _, _ := publishStats(o.pubs, nil, time.Time{}, time.Now())
	r.Goal(okPub == n, "every publish through the other instance succeeds", "publishes %d/%d ok", okPub, n)
	judgeChat(r, chat, o, true)
	return nil
}

func exitStatus(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}
