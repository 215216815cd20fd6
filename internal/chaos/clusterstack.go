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

// failover is the outcome of killing a master.
type failover struct {
	t0       time.Time // the kill
	promoted time.Time // its slots served by a promoted replica in every live node's view
	// steady is when writes to a room on its slots started to work for
	// good (through the first instance), zero when they did not within the
	// recovery budget.
	steady time.Time
}

// failover kills master (kill -9; then runs after, if set), waits until a
// replica is promoted, then publishes to a probe room on its slots until
// writes have worked for 2 s, or budget runs out.
func (s *clusterStack) failover(ctx context.Context, e *Env, master *Redis, budget time.Duration, after func()) (failover, error) {
	var f failover
	probe, err := s.c.keysOn(ctx, master, "probe-%d", 1)
	if err != nil {
		return f, err
	}
	slot, err := s.c.Slot(ctx, "{"+probe[0]+"}")
	if err != nil {
		return f, err
	}
	f.t0 = time.Now()
	master.Kill()
	if after != nil {
		after()
	}
	for !s.c.stateOK(ctx, slot, master) {
		if time.Since(f.t0) > 30*time.Second {
			return f, fmt.Errorf("no replica promoted within 30s of killing %s", master.Name)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return f, err
		}
	}
	f.promoted = time.Now()
	e.log("promoted %s after the kill", ms(f.promoted.Sub(f.t0)))
	f.steady = probePublish(ctx, s.insts[0], probe[0], 2*time.Second, budget)
	return f, nil
}

// judgeRecovery records the promotion and when writes to the dead master's
// rooms worked again (from the publisher's records), against 2 s after
// promotion.
func judgeRecovery(r *Result, f failover, pubs []publishRecord, rooms map[string]bool, budget time.Duration) {
	r.Figure("replica promoted %s after the kill", ms(f.promoted.Sub(f.t0)))
	if f.steady.IsZero() {
		r.Goal(false, "writes back within 2s of promotion", "writes to the dead master's rooms still failing %s after promotion", ms(budget))
		return
	}
	back := lastFailure(pubs, rooms, f.t0)
	r.Goal(back.Sub(f.promoted) <= 2*time.Second, "writes back within 2s of promotion",
		"writes to its rooms back %s after the kill (%s after promotion)", ms(back.Sub(f.t0)), ms(max(0, back.Sub(f.promoted))))
}
