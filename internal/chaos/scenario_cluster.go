package chaos

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// clusterMasterKill: the master serving some rooms and a queue is killed
// (kill -9) under chat, cache and queue load. Goals: writes to its rooms
// work again within 2 s of the replica's promotion; /readyz is 200 again
// by itself within 2 s of it; no CROSSSLOT or MOVED reaches a client;
// cache reads never fail; acknowledged messages lost with the master
// reach members as gap frames, never silently.
func clusterMasterKill(ctx context.Context, e *Env, p profile, r *Result) error {
	s, err := e.startCluster(ctx, 2)
	if err != nil {
		return err
	}
	victim := s.masters[0]
	queue, err := s.c.keysOn(ctx, victim, "q%d", 1)
	if err != nil {
		return err
	}
	load, err := e.startHTTPLoad(ctx, "http", s.insts, "user=30,session=10,enqueue=10", "-queue", queue[0])
	if err != nil {
		return err
	}
	worker, err := e.startClient("worker", "worker", "-targets", urls(s.insts), "-queue", queue[0], "-visibility", "2s", "-work", "1ms")
	if err != nil {
		return err
	}
	chat, err := s.startChat(ctx, e, p, p.resumers)
	if err != nil {
		return err
	}
	ready := watchReady(ctx, s.insts...)
	defer ready.stop()
	var f failover
	err = steps(
		chat.warmThenOffline(ctx, p.warm),
		func() (err error) { f, err = s.failover(ctx, e, victim, p.recoveryBudget, nil); return err },
		chat.backOnline(ctx),
		do(ready.stop),
	)
	if err != nil {
		return err
	}
	recs, err := load.stop()
	if err != nil {
		return err
	}
	o, err := chat.finish(ctx, s.insts, 2*time.Second)
	if err != nil {
		return err
	}
	end := time.Now()

	judgeRecovery(r, f, o.pubs, set(s.rooms[victim]), p.recoveryBudget)
	n, ok, st, texts := publishStats(o.pubs, nil, f.t0, end)
	r.Figure("publishes from the kill on %d, failed %d (%s)", n, n-ok, statuses(st))
	for _, kind := range []string{kindUser, kindSession, kindEnqueue} {
		r.Figure("%s %s", kind, statuses(statsOf(recs, kind, f.t0, end).status))
	}
	users := statsOf(recs, kindUser, time.Time{}, end)
	r.Goal(users.ok == users.n, "0 non-2xx cache reads", "cache reads non-2xx %d of %d", users.n-users.ok, users.n)
	for _, in := range s.insts {
		at, good := settledAfter(ready.series(in.Name), f.t0, is(200))
		r.Goal(good && at.Sub(f.promoted) <= 2*time.Second, in.Name+" /readyz 200 within 2s of promotion",
			"%s /readyz 200 for good %s", in.Name, sinceOrNever(good, at.Sub(f.promoted), "after promotion"))
	}
	for _, rec := range recs {
		texts = append(texts, rec.Err)
	}
	judgeLeaks(r, s.insts, texts, append(o.records, chatRecordsOf(chat.resume)...))
	judgeChat(r, chat, o, false)
	lost, err := e.drainQueue(ctx, s.insts, queue[0], worker, recs)
	if err != nil {
		r.Figure("queue: %v", err)
	} else {
		r.Figure("acknowledged tasks lost %d", lost)
	}
	return nil
}

// judgeLeaks requires that no Cluster error (CROSSSLOT, MOVED, ...) shows in
// what clients got: HTTP answers and chat frames and close reasons. The
// instances' logs are counted for the figure.
func judgeLeaks(r *Result, insts []*Redlane, texts []string, recs []chatRecord) {
	for _, rec := range recs {
		texts = append(texts, rec.Errors...)
		for _, c := range rec.Closes {
			texts = append(texts, c.Reason)
		}
	}
	logged := 0
	for _, in := range insts {
		for _, w := range clusterErrorWords {
			logged += in.LogCount(w)
		}
	}
	leaks := clusterLeaks(texts)
	r.Goal(leaks == 0, "no CROSSSLOT/MOVED reaches a client", "Cluster errors seen by clients %d (in instance logs %d)", leaks, logged)
}

func sinceOrNever(ok bool, d time.Duration, what string) string {
	if !ok {
		return "never"
	}
	return ms(d) + " " + what
}

// chatRecordsOf reads a chat process's records, nil when there are none.
func chatRecordsOf(c *clientProc) []chatRecord {
	if c == nil {
		return nil
	}
	recs, _ := readChat(c)
	return recs
}

// drainQueue lets the worker empty the queue (up to 15 s), stops it, and
// counts the tasks answered 201 that were neither handled nor still queued.
func (e *Env) drainQueue(ctx context.Context, insts []*Redlane, queue string, worker *clientProc, recs []httpRecord) (int, error) {
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		if st, err := stats(ctx, insts[0], queue); err == nil && st.Ready+st.InFlight+st.Delayed == 0 {
			break
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return 0, err
		}
	}
	if err := worker.finish(30 * time.Second); err != nil {
		return 0, err
	}
	l, err := readWorkerLog(worker.Out)
	if err != nil {
		return 0, err
	}
	handled := set(l.handled)
	var pending []httpRecord
	for _, rec := range recs {
		if rec.Kind == kindEnqueue && rec.ID != "" && !handled[rec.ID] {
			pending = append(pending, rec)
		}
	}
	return lostTasks(ctx, insts[0], queue, pending)
}

// clusterPubsubKill: CLIENT KILL TYPE pubsub on every master of a healthy
// Cluster while messages flow. Goals: members lose nothing silently (each
// instance must resubscribe and fill the gap from history), publishes keep
// working, /readyz is 200 at the end.
func clusterPubsubKill(ctx context.Context, e *Env, p profile, r *Result) error {
	s, err := e.startCluster(ctx, 2)
	if err != nil {
		return err
	}
	chat, err := s.startChat(ctx, e, p, 0)
	if err != nil {
		return err
	}
	var t0 time.Time
	killed := int64(0)
	killPubsub := func() error {
		for _, m := range s.masters {
			n, err := m.Client().ClientKillByFilter(ctx, "TYPE", "pubsub").Result()
			if err != nil {
				return fmt.Errorf("CLIENT KILL TYPE pubsub on %s: %w", m.Name, err)
			}
			killed += n
		}
		return nil
	}
	if err := steps(wait(ctx, p.warm), mark(&t0), killPubsub, wait(ctx, p.recover+2*time.Second)); err != nil {
		return err
	}
	o, err := chat.finish(ctx, s.insts, 2*time.Second)
	if err != nil {
		return err
	}
	r.Figure("%d pub/sub connections killed on %d masters", killed, len(s.masters))
	n, ok, st, _ := publishStats(o.pubs, nil, t0, time.Now())
	r.Goal(n == ok, "publishes keep working", "publishes after the kill %s", statuses(st))
	deaf := deafMembers(o.records, o.truth, t0.Add(2*time.Second))
	r.Figure("members deaf after the kill %d of %d", deaf, len(o.records))
	for _, in := range s.insts {
		st := in.Ready(ctx)
		r.Goal((deaf == 0) == (st == 200), in.Name+" /readyz 200 exactly when every room hears",
			"%s /readyz %d at the end", in.Name, st)
	}
	judgeChat(r, chat, o, true)
	return nil
}

// deafMembers counts members that received nothing published after from,
// though their room got messages after it.
func deafMembers(recs []chatRecord, t chatTruth, from time.Time) int {
	deaf := 0
	cut := msgID{ms: uint64(from.UnixMilli())}
	for _, rec := range recs {
		owed := false
		for _, id := range t.history[rec.Room] {
			if cut.less(parseMsgID(id)) {
				owed = true
				break
			}
		}
		heard := false
		for _, id := range rec.IDs {
			if cut.less(parseMsgID(id)) {
				heard = true
				break
			}
		}
		if owed && !heard {
			deaf++
		}
	}
	return deaf
}

// clusterReplicaCut: a replica is cut off from its master (paused, its
// replication connection killed on the master), messages are acknowledged
// by the master alone, then the master is killed and the stale replica
// promoted. Those messages are lost by design of asynchronous replication;
// the goal is that the loss is never silent: live and resuming members get
// gap frames naming it.
func clusterReplicaCut(ctx context.Context, e *Env, p profile, r *Result) error {
	s, err := e.startCluster(ctx, 2)
	if err != nil {
		return err
	}
	victim := s.masters[0]
	replica, err := s.c.ReplicaOf(ctx, victim)
	if err != nil {
		return err
	}
	chat, err := s.startChat(ctx, e, p, p.resumers)
	if err != nil {
		return err
	}
	// The cut: the replica stops reading, and the master drops the link;
	// for 2 s the master alone acknowledges what is published to it.
	cutLink := func() error {
		if err := replica.Pause(); err != nil {
			return err
		}
		if err := victim.Client().Do(ctx, "CLIENT", "KILL", "TYPE", "replica").Err(); err != nil {
			return fmt.Errorf("CLIENT KILL TYPE replica: %w", err)
		}
		return nil
	}
	var tcut time.Time
	var f failover
	err = steps(
		chat.warmThenOffline(ctx, p.warm),
		mark(&tcut), cutLink, wait(ctx, 2*time.Second),
		func() (err error) {
			f, err = s.failover(ctx, e, victim, p.recoveryBudget, func() { _ = replica.Resume() })
			return err
		},
		chat.backOnline(ctx),
	)
	if err != nil {
		return err
	}
	o, err := chat.finish(ctx, s.insts, 2*time.Second)
	if err != nil {
		return err
	}
	victimRooms := set(s.rooms[victim])
	n, ok, _, _ := publishStats(o.pubs, victimRooms, tcut, f.t0)
	r.Figure("link cut %s before the kill: %d of %d publishes to its rooms acked", ms(f.t0.Sub(tcut)), ok, n)
	judgeRecovery(r, f, o.pubs, victimRooms, p.recoveryBudget)
	r.Figure("acknowledged messages lost %d (%d acked before the cut)", o.lostAcked, lostBefore(o, tcut))
	if o.lostAcked == 0 {
		r.Goal(false, "the cut loses acknowledged messages (else the fault did not take)", "nothing lost")
	}
	judgeChat(r, chat, o, false)
	return nil
}

// lostBefore counts lost acknowledged messages published before t: those
// the replica should have had.
func lostBefore(o chatOutcome, t time.Time) int {
	in := map[string]bool{}
	for _, ids := range o.truth.history {
		for _, id := range ids {
			in[id] = true
		}
	}
	n := 0
	for _, p := range o.pubs {
		if p.ID != "" && !in[p.ID] && p.At < t.UnixMilli() {
			n++
		}
	}
	return n
}

// clusterErrorWords are Redis Cluster redirections and errors that must
// never reach a client: Redlane has to follow or hide them.
var clusterErrorWords = []string{"CROSSSLOT", "MOVED", "ASK ", "CLUSTERDOWN", "TRYAGAIN"}

// clusterLeaks counts texts that show a Cluster error.
func clusterLeaks(texts []string) int {
	n := 0
	for _, t := range texts {
		for _, w := range clusterErrorWords {
			if strings.Contains(t, w) {
				n++
				break
			}
		}
	}
	return n
}
