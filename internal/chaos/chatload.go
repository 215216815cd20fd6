package chaos

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// chatLoad is a chat workload: live members (their own process), members
// that go offline across the fault and resume with ?since= (another
// process), and a publisher posting to the rooms over HTTP.
type chatLoad struct {
	rooms        []string
	live, resume *clientProc
	pub          *clientProc
	joinFailures int // sockets whose first join failed
	// direct, when set, reads a room's history from Redis itself when no
	// instance serves it (a Cluster after a failover), so members can
	// still be judged.
	direct func(ctx context.Context, room string) ([]string, error)
}

// startChat connects the members (spread over insts) and starts
// publishing through pubVia at rate messages per second.
func (e *Env) startChat(ctx context.Context, insts, pubVia []*Redlane, rooms []string, live, resumers, rate int) (*chatLoad, error) {
	c := &chatLoad{rooms: rooms}
	var err error
	roomList := strings.Join(rooms, ",")
	if c.live, err = e.startClient("chat-live", "chat", "-targets", urls(insts), "-rooms", roomList, "-n", fmt.Sprint(live)); err != nil {
		return nil, err
	}
	if resumers > 0 {
		if c.resume, err = e.startClient("chat-resume", "chat", "-targets", urls(insts), "-rooms", roomList, "-n", fmt.Sprint(resumers), "-offset", "1"); err != nil {
			return nil, err
		}
	}
	for _, cp := range c.members() {
		line, err := cp.waitReady(ctx, 60*time.Second)
		if err != nil {
			return nil, err
		}
		var ok, failed int
		_, _ = fmt.Sscanf(line, "ready joined=%d failed=%d", &ok, &failed)
		c.joinFailures += failed
	}
	c.pub, err = e.startClient("publisher", "publish", "-targets", urls(pubVia), "-rooms", roomList, "-rate", fmt.Sprint(rate))
	if err != nil {
		return nil, err
	}
	_, err = c.pub.waitReady(ctx, 10*time.Second)
	return c, err
}

func (c *chatLoad) members() []*clientProc {
	if c.resume == nil {
		return []*clientProc{c.live}
	}
	return []*clientProc{c.live, c.resume}
}

// warmThenOffline is a step: let messages flow for warm, then take the
// resuming members offline (SIGUSR1) and give their sockets time to close.
func (c *chatLoad) warmThenOffline(ctx context.Context, warm time.Duration) func() error {
	return func() error {
		return steps(wait(ctx, warm), func() error { return c.resume.Signal(syscall.SIGUSR1) }, wait(ctx, 500*time.Millisecond))
	}
}

// backOnline is a step: bring the resuming members back (SIGUSR2, they
// reconnect with ?since=) and give them time to catch up.
func (c *chatLoad) backOnline(ctx context.Context) func() error {
	return func() error {
		return steps(wait(ctx, time.Second), func() error { return c.resume.Signal(syscall.SIGUSR2) }, wait(ctx, 3*time.Second))
	}
}

// chatOutcome is what a chat workload ends with.
type chatOutcome struct {
	pubs          []publishRecord
	truth         chatTruth
	live, resumed chatVerdict
	records       []chatRecord // live ones
	lostAcked     int
	firstLost     string
}

// stopPublishing ends the publisher and returns its records.
func (c *chatLoad) stopPublishing() ([]publishRecord, error) {
	if err := c.pub.finish(30 * time.Second); err != nil {
		return nil, err
	}
	return readLines[publishRecord](c.pub.Out)
}

// finish stops publishing, lets deliveries land for settle, ends the
// members and judges what they got against history read through insts.
func (c *chatLoad) finish(ctx context.Context, insts []*Redlane, settle time.Duration) (chatOutcome, error) {
	var o chatOutcome
	var err error
	if o.pubs, err = c.stopPublishing(); err != nil {
		return o, err
	}
	if err := sleep(ctx, settle); err != nil {
		return o, err
	}
	if err := finishAll(c.members()...); err != nil {
		return o, err
	}
	if o.records, err = readChat(c.live); err != nil {
		return o, err
	}
	if o.truth, err = truth(ctx, insts, o.pubs, c.rooms, c.direct); err != nil {
		return o, err
	}
	o.lostAcked, o.firstLost = o.truth.lostAcked()
	o.live = checkChat(o.records, o.truth)
	if c.resume != nil {
		res, err := readChat(c.resume)
		if err != nil {
			return o, err
		}
		o.resumed = checkChat(res, o.truth)
	}
	return o, nil
}

// publishStats counts the publisher's answers in [from, to) for rooms
// (nil: every room).
func publishStats(pubs []publishRecord, rooms map[string]bool, from, to time.Time) (n, ok int, st map[int]int, bodies []string) {
	st = map[int]int{}
	for _, p := range pubs {
		if (rooms != nil && !rooms[p.Room]) || p.At < from.UnixMilli() || p.At >= to.UnixMilli() {
			continue
		}
		n++
		st[p.Status]++
		if p.ID != "" {
			ok++
		} else {
			bodies = append(bodies, p.Err)
		}
	}
	return n, ok, st, bodies
}

// judgeChat records the chat promises: every acknowledged message in
// history (when lossless is set), no silent loss for live and resuming
// members, no duplicate, in order, every member back online.
func judgeChat(r *Result, c *chatLoad, o chatOutcome, lossless bool) {
	acked := 0
	for _, ids := range o.truth.acked {
		acked += len(ids)
	}
	if n := len(o.truth.direct); n > 0 {
		r.Goal(false, "history served after the fault", "history of %d rooms not served by any instance (read from Redis)", n)
	}
	if lossless {
		r.Goal(o.lostAcked == 0, "every acknowledged message in history",
			"%d acked, %d missing from history", acked, o.lostAcked)
	} else {
		r.Figure("%d acked, %d missing from history", acked, o.lostAcked)
	}
	if c.joinFailures > 0 {
		r.Goal(false, "every member joins", "%d first joins failed", c.joinFailures)
	}
	// A gap frame must name messages really lost: skipping messages that
	// are in history is a loss too (a gap that names nothing is a false
	// alarm, counted in the figures only).
	v := o.live
	r.Goal(v.silentLost == 0 && v.skipped == 0 && v.dups == 0 && v.disorder == 0 && v.offline == 0,
		"live members: every message or a gap naming a real loss, once, in order", "live %s", v.summary())
	if c.resume != nil {
		v := o.resumed
		r.Goal(v.silentLost == 0 && v.skipped == 0 && v.dups == 0 && v.disorder == 0 && v.offline == 0,
			"resumed members: every later message, once, in order", "resumed %s", v.summary())
	}
}

// truth reads history for every room the publisher used and pairs it with
// what the publisher was told. When no instance serves a room's history
// and direct is set, direct reads it (t.direct lists those rooms).
func truth(ctx context.Context, insts []*Redlane, pubs []publishRecord, rooms []string, direct func(context.Context, string) ([]string, error)) (chatTruth, error) {
	t := chatTruth{acked: map[string][]string{}, history: map[string][]string{}}
	for _, p := range pubs {
		if p.ID != "" {
			t.acked[p.Room] = append(t.acked[p.Room], p.ID)
		}
	}
	for _, room := range rooms {
		ids, err := history(ctx, insts, room)
		if err != nil && direct != nil {
			t.direct = append(t.direct, room)
			ids, err = direct(ctx, room)
		}
		if err != nil {
			return t, err
		}
		t.history[room] = ids
	}
	return t, nil
}

// readChat reads the records of chat client processes.
func readChat(cs ...*clientProc) ([]chatRecord, error) {
	var all []chatRecord
	for _, c := range cs {
		var recs []chatRecord
		if err := readRecord(c.Out, &recs); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		all = append(all, recs...)
	}
	return all, nil
}

// finishAll ends clients (SIGINT) and returns the first error.
func finishAll(cs ...*clientProc) error {
	var first error
	for _, c := range cs {
		if err := c.finish(30 * time.Second); err != nil && first == nil {
			first = err
		}
	}
	return first
}
