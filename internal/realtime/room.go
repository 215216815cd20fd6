package realtime

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redlane/redlane/internal/realtime/access"
)

// A room's membership, in this file: a socket joins (join, acquire,
// subscribeRoom), first replaying history when it resumes, and the last
// member to leave unsubscribes (leave). What members receive, live or from
// history, and the gaps they are told of, is in continuity.go. Both keep
// one invariant: a room's lastSeen and each member's last only move
// forward, under the room's and the socket's locks.

// localRoom is a room with members on this instance. Its mutex is held
// while messages are fanned out, so members get them in the order Redis
// published them.
type localRoom struct {
	name    string
	ready   chan struct{} // closed once subscribed (or failed)
	once    sync.Once
	err     error
	mu      sync.Mutex
	members map[*Conn]*member
	// lastSeen is the newest message fanned out here; a live message that
	// does not follow it means pub/sub lost some, and history fills in.
	lastSeen streamID
}

// localRoom is the room called name, nil when no local socket is in it.
func (h *Hub) localRoom(name string) *localRoom {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[name]
}

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
func (h *Hub) join(ctx context.Context, c *Conn, name string, since *streamID, ref, token string) error {
	rt := h.cfg.Current().Spec.Realtime
	if err := ValidRoom(name); err != nil {
		return &joinError{code: "invalid-room", detail: "room " + err.Error(), close: 1008}
	}
	if p := c.who(); !h.may(p, name, access.Subscribe, token) {
		return &joinError{code: "forbidden", detail: forbiddenDetail(p, name, access.Subscribe), close: CloseForbidden}
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
	if token != "" {
		if c.tokens == nil {
			c.tokens = map[string]string{}
		}
		c.tokens[name] = token
	}
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
func (h *Hub) acquire(c *Conn, m *member, since *streamID) (*localRoom, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[m.room]
	created := r == nil
	if created {
		r = &localRoom{name: m.room, ready: make(chan struct{}), members: map[*Conn]*member{}}
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
func (h *Hub) subscribeRoom(r *localRoom) {
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

func (h *Hub) failRoom(r *localRoom, err error) {
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
	delete(c.tokens, name)
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
