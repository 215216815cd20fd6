package chaos

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// clusterStack is a 3-master + 3-replica Cluster, two instances on it, and
// rooms placed on known masters.
type clusterStack struct {
	c       *Cluster
	insts   []*Redlane
	masters []*Redis
	rooms   map[*Redis][]string // rooms whose slot each master serves
}

// startCluster starts the stack with perMaster rooms on every master.
func (e *Env) startCluster(ctx context.Context, perMaster int) (*clusterStack, error) {
	c, err := e.StartCluster(ctx, 3, 1)
	if err != nil {
		return nil, err
	}
	s := &clusterStack{c: c, rooms: map[*Redis][]string{}}
	if s.masters, err = c.Masters(ctx); err != nil {
		return nil, err
	}
	for i, m := range s.masters {
		if s.rooms[m], err = c.keysOn(ctx, m, fmt.Sprintf("m%d-room-%%d", i), perMaster); err != nil {
			return nil, err
		}
	}
	s.insts, err = e.startInstances(ctx, 2, "REDIS_ADDRS="+strings.Join(c.Addrs(), ","))
	return s, err
}

// startChat is Env.startChat with history read from the Cluster itself
// when no instance serves it.
func (s *clusterStack) startChat(ctx context.Context, e *Env, p profile, resumers int) (*chatLoad, error) {
	chat, err := e.startChat(ctx, s.insts, s.insts, s.allRooms(), p.chatSockets, resumers, p.publishRate)
	if chat != nil {
		chat.direct = func(ctx context.Context, room string) ([]string, error) {
			return s.c.streamIDs(ctx, "redlane:chat:{"+room+"}:stream") // internal/realtime/keys.go
		}
	}
	return chat, err
}

func (s *clusterStack) allRooms() []string {
	var out []string
	for _, m := range s.masters {
		out = append(out, s.rooms[m]...)
	}
	return out
}

func set(names []string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// failover kills master (kill -9; before that, cut runs if not nil) and
// waits until its slots are served by a promoted replica in every live
// node's view. It returns the kill time and the promotion delay.
func (s *clusterStack) failover(ctx context.Context, e *Env, master *Redis, after func()) (time.Time, time.Duration, error) {
	slot, err := s.c.Slot(ctx, "{"+s.rooms[master][0]+"}")
	if err != nil {
		return time.Time{}, 0, err
	}
	t0 := time.Now()
	master.Kill()
	if after != nil {
		after()
	}
	for time.Since(t0) < 30*time.Second {
		if s.c.stateOK(ctx, slot, master) {
			e.log("promoted %s after the kill", ms(time.Since(t0)))
			return t0, time.Since(t0), nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return t0, 0, err
		}
	}
	return t0, 0, fmt.Errorf("no replica promoted within 30s of killing %s", master.Name)
}

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
	probeRoom, err := s.c.keysOn(ctx, victim, "probe-%d", 1)
	if err != nil {
		return err
	}
	queue, err := s.c.keysOn(ctx, victim, "q%d", 1)
	if err != nil {
		return err
	}
	tokens, err := e.login(ctx, s.insts[0], 10)
	if err != nil {
		return err
	}
	load, err := e.startClient("http", "http", "-targets", urls(s.insts), "-rates", "user=30,session=10,enqueue=10",
		"-users", fmt.Sprint(seededUsers), "-tokens", tokens, "-queue", queue[0])
	if err != nil {
		return err
	}
	if _, err := load.waitReady(ctx, 10*time.Second); err != nil {
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
	if err := sleep(ctx, p.warm); err != nil {
		return err
	}
	if err := chat.offline(); err != nil {
		return err
	}
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return err
	}
	t0, promotion, err := s.failover(ctx, e, victim, nil)
	if err != nil {
		return err
	}
	tp := t0.Add(promotion)
	steady := probePublish(ctx, s.insts[0], probeRoom[0], 2*time.Second, p.recoveryBudget)
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	if err := chat.online(); err != nil {
		return err
	}
	if err := sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	ready.stop()
	if err := load.finish(30 * time.Second); err != nil {
		return err
	}
	recs, err := readLines[httpRecord](load.Out)
	if err != nil {
		return err
	}
	pubs, err := chat.stopPublishing()
	if err != nil {
		return err
	}
	end := time.Now()

	r.Figure("replica promoted %s after the kill", ms(promotion))
	victimRooms := set(s.rooms[victim])
	back := lastFailure(pubs, victimRooms, t0)
	if steady.IsZero() {
		r.Goal(false, "writes back within 2s of promotion", "writes to the dead master's rooms still failing %s after promotion", ms(p.recoveryBudget))
	} else {
		r.Goal(back.Sub(tp) <= 2*time.Second, "writes back within 2s of promotion",
			"writes to its rooms back %s after the kill (%s after promotion)", ms(back.Sub(t0)), ms(back.Sub(tp)))
	}
	n, ok, st, bodies := publishStats(pubs, nil, t0, end)
	r.Figure("publishes from the kill on %d, failed %d (%s)", n, n-ok, statuses(st))
	var texts []string
	texts = append(texts, bodies...)
	for _, kind := range []string{kindUser, kindSession, kindEnqueue} {
		k := statsOf(recs, kind, t0, end)
		r.Figure("%s %s", kind, statuses(k.status))
	}
	for _, rec := range recs {
		texts = append(texts, rec.Err)
	}
	users := statsOf(recs, kindUser, time.Time{}, end)
	r.Goal(users.ok == users.n, "0 non-2xx cache reads", "cache reads non-2xx %d of %d", users.n-users.ok, users.n)
	for _, in := range s.insts {
		at, good := settledAfter(ready.series(in.Name), t0, is(200))
		r.Goal(good && at.Sub(tp) <= 2*time.Second, in.Name+" /readyz 200 within 2s of promotion",
			"%s /readyz 200 for good %s", in.Name, sinceOrNever(good, at.Sub(tp), "after promotion"))
	}

	// Chat: members come back, then history is judged.
	o, err := chat.finish(ctx, s.insts, 2*time.Second)
	if err != nil {
		return err
	}
	for _, rec := range append(o.records, chatRecordsOf(chat.resume)...) {
		texts = append(texts, rec.Errors...)
		for _, c := range rec.Closes {
			texts = append(texts, c.Reason)
		}
	}
	leaks := clusterLeaks(texts)
	logged := 0
	for _, in := range s.insts {
		for _, w := range clusterErrorWords {
			logged += in.LogCount(w)
		}
	}
	r.Goal(leaks == 0, "no CROSSSLOT/MOVED reaches a client", "Cluster errors seen by clients %d (in instance logs %d)", leaks, logged)
	judgeChat(r, chat, o, false)
	lost, err := e.drainQueue(ctx, s.insts, queue[0], worker, recs)
	if err != nil {
		r.Figure("queue: %v", err)
	} else {
		r.Figure("acknowledged tasks lost %d", lost)
	}
	return nil
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
	if err := sleep(ctx, p.warm); err != nil {
		return err
	}
	t0 := time.Now()
	killed := int64(0)
	for _, m := range s.masters {
		n, err := m.Client().ClientKillByFilter(ctx, "TYPE", "pubsub").Result()
		if err != nil {
			return fmt.Errorf("CLIENT KILL TYPE pubsub on %s: %w", m.Name, err)
		}
		killed += n
	}
	if err := sleep(ctx, p.recover+2*time.Second); err != nil {
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
	probeRoom, err := s.c.keysOn(ctx, victim, "probe-%d", 1)
	if err != nil {
		return err
	}
	chat, err := s.startChat(ctx, e, p, p.resumers)
	if err != nil {
		return err
	}
	if err := sleep(ctx, p.warm); err != nil {
		return err
	}
	if err := chat.offline(); err != nil {
		return err
	}
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return err
	}
	// Cut: the replica stops reading, and the master drops the link.
	tcut := time.Now()
	if err := replica.Pause(); err != nil {
		return err
	}
	if err := victim.Client().Do(ctx, "CLIENT", "KILL", "TYPE", "replica").Err(); err != nil {
		return fmt.Errorf("CLIENT KILL TYPE replica: %w", err)
	}
	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	t0, promotion, err := s.failover(ctx, e, victim, func() { _ = replica.Resume() })
	if err != nil {
		return err
	}
	tp := t0.Add(promotion)
	steady := probePublish(ctx, s.insts[0], probeRoom[0], 2*time.Second, p.recoveryBudget)
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	if err := chat.online(); err != nil {
		return err
	}
	if err := sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	o, err := chat.finish(ctx, s.insts, 2*time.Second)
	if err != nil {
		return err
	}
	victimRooms := set(s.rooms[victim])
	n, ok, _, _ := publishStats(o.pubs, victimRooms, tcut, t0)
	r.Figure("link cut %s before the kill: %d of %d publishes to its rooms acked; replica promoted %s after the kill", ms(t0.Sub(tcut)), ok, n, ms(promotion))
	r.Figure("acknowledged messages lost %d (%d acked before the cut)", o.lostAcked, lostBefore(o, tcut))
	if steady.IsZero() {
		r.Goal(false, "writes back within 2s of promotion", "writes still failing %s after promotion", ms(p.recoveryBudget))
	} else {
		back := lastFailure(o.pubs, victimRooms, t0)
		r.Goal(back.Sub(tp) <= 2*time.Second, "writes back within 2s of promotion", "writes back %s after promotion", ms(back.Sub(tp)))
	}
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
