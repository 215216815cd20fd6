package realtime

import (
	"context"
	"fmt"
	"time"
)

// joinError is a join refused for a reason the client can fix or retry.
type joinError struct {
	code   string // error frame code
	detail string
	close  int // close code when it is the URL's room
}

func (e *joinError) Error() string { return e.detail }

// join makes c a member of name. With since, every message after it is
// replayed from history before live ones (a gap frame says when history no
// longer covers it); without, the client gets messages from now on.
func (h *Hub) join(ctx context.Context, c *Conn, name string, since *streamID, ref string) error {
	rt := h.cfg.Current().Spec.Realtime
	if err := ValidRoom(name); err != nil {
		return &joinError{code: "invalid-room", detail: "room " + err.Error(), close: 1008}
	}
	m := &member{room: name, recovering: true}
	c.mu.Lock()
	switch {
	case c.rooms[name] != nil:
		c.mu.Unlock()
		return &joinError{code: "already-joined", detail: "already in room " + name, close: 1008}
	case len(c.rooms) >= rt.MaxRoomsPerConnection:
		c.mu.Unlock()
		return &joinError{code: "too-many-rooms", detail: fmt.Sprintf("at most %d rooms per connection", rt.MaxRoomsPerConnection), close: 1008}
	}
	c.rooms[name] = m
	c.mu.Unlock()

	r, created := h.acquire(c, m, since)
	if created {
		h.subscribeRoom(r)
	}
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case <-r.ready:
	case <-wait.Done():
		h.leave(c, name)
		return &joinError{code: "unavailable", detail: "room subscription was not confirmed in time; try again", close: CloseTryAgain}
	}
	if r.err != nil {
		h.leave(c, name)
		return &joinError{code: "unavailable", detail: "room is unavailable: Redis did not answer; try again", close: CloseTryAgain}
	}
	h.presenceJoin(ctx, c, name)
	joined := joinedFrame{Type: "joined", Room: name, Ref: ref}
	if since != nil {
		joined.Resumed = true
		n, err := h.replay(ctx, c, m, *since)
		if err != nil {
			h.leave(c, name)
			return &joinError{code: "unavailable", detail: "history could not be read; try again", close: CloseTryAgain}
		}
		joined.Missed = n
	}
	c.finishRecovery(m, joined)
	return nil
}

// acquire adds c to the room, creating it when it is new here. A member
// joining from now starts at the room's newest fanned-out message.
func (h *Hub) acquire(c *Conn, m *member, since *streamID) (*room, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[m.room]
	created := r == nil
	if created {
		r = &room{name: m.room, ready: make(chan struct{}), members: map[*Conn]*member{}}
		h.rooms[m.room] = r
		h.metrics.rooms.Inc()
	}
	r.mu.Lock()
	c.mu.Lock()
	if since != nil {
		m.last = *since
	} else {
		m.last, m.fromNow = r.lastSeen, true
	}
	c.mu.Unlock()
	r.members[c] = m
	r.mu.Unlock()
	return r, created
}

// subscribeRoom reads the room's newest id (the base that catch-up fills
// from), then asks for the subscription; the broker confirms through
// subscribed, which fills anything published in between from history.
func (h *Hub) subscribeRoom(r *room) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	last, err := h.hist.lastID(ctx, r.name)
	if err == nil {
		r.mu.Lock()
		r.lastSeen = last
		for c, m := range r.members {
			c.mu.Lock()
			if m.fromNow {
				m.last = last // joined from now: start at the newest message
			}
			c.mu.Unlock()
		}
		r.mu.Unlock()
		h.mu.Lock()
		if h.rooms[r.name] == r {
			_, err = h.broker.want(h.keys.channel(r.name), true)
		}
		h.mu.Unlock()
	}
	if err != nil {
		h.log.Warn("realtime: cannot subscribe room", "room", r.name, "error", err.Error())
		h.failRoom(r, err)
	}
}

func (h *Hub) failRoom(r *room, err error) {
	h.mu.Lock()
	if h.rooms[r.name] == r {
		delete(h.rooms, r.name)
		h.metrics.rooms.Dec()
		_, _ = h.broker.want(h.keys.channel(r.name), false)
	}
	h.mu.Unlock()
	r.once.Do(func() { r.err = err; close(r.ready) })
}

// leave removes c from the room; the last local member unsubscribes it.
func (h *Hub) leave(c *Conn, name string) bool {
	c.mu.Lock()
	m := c.rooms[name]
	delete(c.rooms, name)
	c.mu.Unlock()
	if m == nil {
		return false
	}
	h.mu.Lock()
	r := h.rooms[name]
	if r != nil {
		r.mu.Lock()
		if r.members[c] == m {
			delete(r.members, c)
		}
		empty := len(r.members) == 0
		r.mu.Unlock()
		if empty {
			delete(h.rooms, name)
			h.metrics.rooms.Dec()
			if _, err := h.broker.want(h.keys.channel(name), false); err != nil {
				h.log.Warn("realtime: unsubscribe failed", "room", name, "error", err.Error())
			}
		}
	}
	h.mu.Unlock()
	h.presenceLeave(c, name)
	return true
}

// replay sends c every message of the room after since, oldest first, and
// reports a gap explicitly when history no longer reaches back to since.
func (h *Hub) replay(ctx context.Context, c *Conn, m *member, since streamID) (int, error) {
	const page = 200
	n, gap := 0, false
	last := since
	for {
		es, err := h.hist.after(ctx, m.room, last, page)
		if err != nil {
			return n, err
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if !continuous(last, e) {
				gap = true
				c.send(gapFrame{Type: "gap", Room: m.room, After: last.String(), Next: e.idStr, Reason: "history-trimmed"})
			}
			if err := c.waitRoom(ctx); err != nil {
				return n, err
			}
			c.deliver(m, e, false)
			last = e.id
			n++
		}
		if len(es) < page {
			break
		}
	}
	if n == 0 && !since.isZero() {
		// Nothing after since in the stream: either nothing was published,
		// or it all expired. The room's last id tells which.
		newest, err := h.hist.lastID(ctx, m.room)
		if err != nil {
			return n, err
		}
		if newest.isZero() || since.less(newest) {
			h.metrics.resumes.WithLabelValues("gap").Inc()
			c.send(gapFrame{Type: "gap", Room: m.room, After: since.String(), Reason: "history-expired"})
			return n, nil
		}
	}
	if gap {
		h.metrics.resumes.WithLabelValues("gap").Inc()
	} else {
		h.metrics.resumes.WithLabelValues("complete").Inc()
	}
	return n, nil
}
