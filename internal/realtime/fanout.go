package realtime

import (
	"context"
	"time"
)

// deliverLive is called by a shard's receive loop for every message.
func (h *Hub) deliverLive(name string, e *envelope) {
	r := h.room(name)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.lastSeen.less(e.id) {
		return // already fanned out by a catch-up
	}
	if !continuous(r.lastSeen, e) {
		h.catchUpLocked(r, e)
	}
	h.fanoutLocked(r, e)
}

// subscribed is called when the room's subscription is confirmed, first or
// after a reconnect: history fills whatever was published while it was not.
func (h *Hub) subscribed(name string) {
	r := h.room(name)
	if r == nil {
		return
	}
	r.mu.Lock()
	h.catchUpLocked(r, nil)
	r.mu.Unlock()
	r.once.Do(func() { close(r.ready) })
}

// catchUpLocked fans out the room's messages after lastSeen from history:
// all of them, or, when next (a live message that does not follow lastSeen)
// is given, those before it.
func (h *Hub) catchUpLocked(r *room, next *envelope) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for done := false; !done; {
		es, err := h.hist.after(ctx, r.name, r.lastSeen, 500)
		if err != nil {
			h.log.Warn("realtime: catch-up from history failed", "room", r.name, "error", err.Error())
			break
		}
		done = len(es) < 500
		for _, e := range es {
			if next != nil && !e.id.less(next.id) {
				done = true
				break
			}
			if !continuous(r.lastSeen, e) {
				h.gapLocked(r, e, "history-trimmed")
			}
			h.metrics.catchups.Inc()
			h.fanoutLocked(r, e)
		}
	}
	if next != nil && !continuous(r.lastSeen, next) {
		// History has nothing between lastSeen and the live message, which
		// does not follow lastSeen: what was between is gone (Redis lost
		// it, or it expired).
		h.log.Warn("realtime: messages lost between pub/sub and history", "room", r.name, "after", r.lastSeen.String(), "next", next.idStr)
		h.gapLocked(r, next, "history-lost")
	}
}

// gapLocked tells every member of r that messages between lastSeen and
// next are lost; the frame is encoded once for all of them.
func (h *Hub) gapLocked(r *room, next *envelope, reason string) {
	frame := encodeFrame(opText, mustJSON(gapFrame{Type: "gap", Room: r.name, After: r.lastSeen.String(), Next: next.idStr, Reason: reason}))
	for c := range r.members {
		c.sendFrame(frame)
	}
}

func (h *Hub) fanoutLocked(r *room, e *envelope) {
	r.lastSeen = e.id
	for c, m := range r.members {
		c.deliver(m, e, true)
	}
}
