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
	rd, err := e.StartRedis(ctx, "redis")
	if err != nil {
		return err
	}
	insts, err := e.startInstances(ctx, 2, "REDIS_URL=redis://"+rd.Addr()+"/0")
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
	if err := sleep(ctx, p.warm); err != nil {
		return err
	}
	t0 := time.Now()
	if err := a.Terminate(); err != nil {
		return err
	}
	var exited time.Duration
	select {
	case <-a.proc.Done():
		exited = time.Since(t0)
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s still running 30s after SIGTERM", a.Name)
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := sleep(ctx, p.recover); err != nil {
		return err
	}
	ready.stop()
	o, err := chat.finish(ctx, []*Redlane{b}, 2*time.Second)
	if err != nil {
		return err
	}

	onA, got1001, firstClose := 0, 0, time.Duration(-1)
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
		}
	}
	notReady, ok := firstSent(ready.series(a.Name), t0, isNot(200))
	r.Goal(ok && firstClose >= 0 && notReady.end.Sub(t0) < firstClose, "/readyz 503 before the first socket closes",
		"/readyz 503 %s after SIGTERM, first close at %s", ms(notReady.end.Sub(t0)), ms(firstClose))
	r.Goal(onA > 0 && got1001 == onA, "every socket of the stopped instance gets 1001",
		"%d of %d sockets on %s got 1001", got1001, onA, a.Name)
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
