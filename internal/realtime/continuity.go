package realtime

import (
	"context"
	"errors"
	"time"
)

// What a room's members receive, and the proof that nothing is missing: a
// live message is fanned out when it directly follows the last one
// (deliverLive); a hole is filled from history (catchUpLocked), and what
// history cannot fill is announced as a gap frame naming the range and why
// (gapLocked): trimmed, lost, unreadable, rolled back (a restarted server
// lost it) or failover (a promoted replica may lack it). A resuming socket
// gets the same from history first (replay).

// replay sends c every message of the room after since, oldest first, and
// reports a gap explicitly when history no longer reaches back to since, or
// when a failover after since may have lost acknowledged messages.
func (h *Hub) replay(ctx context.Context, c *Conn, m *member, since streamID) (int, error) {
	const page = 200
	n, gap := 0, false
	last := since
	sinceEpoch := "" // since's epoch, "" when history does not hold it
	if !since.isZero() {
		var err error
		if sinceEpoch, err = h.hist.epochAt(ctx, m.room, since); err != nil {
			return n, err
		}
	}
	for {
		es, err := h.hist.after(ctx, m.room, last, page)
		if err != nil {
			return n, err
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			reason := ""
			switch {
			case !continuous(last, e):
				reason = "history-trimmed"
			case e.failover:
				reason = "failover"
			case n == 0 && !since.isZero() && sinceEpoch == "":
				// since is not in history: a made-up id, or one lost with a
				// rolled-back history. The message before e tells which.
				if rb, err := h.rolledBackBefore(ctx, m.room, since, e); err != nil {
					return n, err
				} else if rb {
					reason = "history-rolled-back"
				}
			}
			if reason != "" {
				gap = true
				h.metrics.gaps.WithLabelValues(reason).Inc()
				c.send(gapFrame{Type: "gap", Room: m.room, After: last.String(), Next: e.idStr, Reason: reason})
			}
			if err := c.waitRoom(ctx); err != nil {
				return n, err
			}
			c.deliver(m, e, false, nil)
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
		if !newest.isZero() && since.less(newest) {
			// A message may have been published between the two reads: then
			// history holds it now, and it reaches the socket live (the room
			// was subscribed before the replay began).
			if es, err := h.hist.after(ctx, m.room, since, 1); err != nil {
				return n, err
			} else if len(es) > 0 {
				h.metrics.resumes.WithLabelValues("complete").Inc()
				return n, nil
			}
		}
		if newest.isZero() || since.less(newest) {
			h.metrics.resumes.WithLabelValues("gap").Inc()
			h.metrics.gaps.WithLabelValues("history-expired").Inc()
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

// rolledBackBefore reports whether since, an id history does not hold,
// lies between e and its predecessor because history lost it: the
// predecessor was written by another server than e (a restart or failover
// came between them). A since the client made up (a time, say) lies between
// two messages of one writer.
func (h *Hub) rolledBackBefore(ctx context.Context, room string, since streamID, e *envelope) (bool, error) {
	p, ok := parseID(e.prev)
	if !ok || !p.less(since) || e.epoch == "" {
		return false, nil
	}
	pe, err := h.hist.epochAt(ctx, room, p)
	return epochChanged(pe, e.epoch), err
}

// epochChanged reports whether two known epochs differ.
func epochChanged(last, next string) bool {
	return last != "" && next != "" && last != next
}

// deliverLive is called by a shard's receive loop for every message.
func (h *Hub) deliverLive(name string, e *envelope) {
	r := h.localRoom(name)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.lastSeen.less(e.id) {
		return // already fanned out by a catch-up
	}
	gapped := false
	switch {
	case rolledBack(r.lastSeen, e):
		// e follows a message older than one fanned out here: history was
		// rolled back, and what came after lastSeen may be gone.
		h.gapLocked(r, e, "history-rolled-back")
		gapped = true
	case !continuous(r.lastSeen, e):
		gapped = h.catchUpLocked(r, e)
	}
	h.advanceLocked(r, e, gapped)
}

// rolledBack reports whether e's predecessor comes before last, a message
// this instance fanned out: the history e was written on lacks last.
func rolledBack(last streamID, e *envelope) bool {
	p, ok := parseID(e.prev)
	return ok && !last.isZero() && p.less(last)
}

// subscribed is called when the room's subscription is confirmed, first or
// after a reconnect: history fills whatever was published while it was not.
func (h *Hub) subscribed(name string) {
	r := h.localRoom(name)
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
// is given, those before it. It reports whether it announced a gap before
// next. A read that fails is retried (the pool may be redialling); one that
// keeps failing leaves lastSeen where it is, and next, if given, goes out
// after a gap saying history could not be read, not that it is lost.
func (h *Hub) catchUpLocked(r *localRoom, next *envelope) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	unreadable := false
	for done := false; !done; {
		es, err := h.readHistory(ctx, r.name, r.lastSeen)
		if err != nil {
			h.log.Warn("realtime: catch-up from history failed", "room", r.name, "error", err.Error())
			unreadable = true
			break
		}
		done = len(es) < catchUpPage
		for _, e := range es {
			if next != nil && !e.id.less(next.id) {
				done = true
				break
			}
			gapped := true
			switch {
			case rolledBack(r.lastSeen, e):
				h.gapLocked(r, e, "history-rolled-back")
			case !continuous(r.lastSeen, e):
				h.gapLocked(r, e, "history-trimmed")
			default:
				gapped = false
			}
			h.metrics.catchups.Inc()
			h.advanceLocked(r, e, gapped)
		}
	}
	switch {
	case next == nil:
		return false
	case rolledBack(r.lastSeen, next):
		h.gapLocked(r, next, "history-rolled-back")
		return true
	case continuous(r.lastSeen, next):
		return false
	}
	reason := "history-lost"
	if unreadable {
		reason = "history-unavailable"
	} else {
		// History has nothing between lastSeen and the live message, which
		// does not follow lastSeen: what was between is gone (Redis lost
		// it, or it expired).
		h.log.Warn("realtime: messages lost between pub/sub and history", "room", r.name, "after", r.lastSeen.String(), "next", next.idStr)
	}
	h.gapLocked(r, next, reason)
	return true
}

// catchUpPage is how many history entries one catch-up read asks for.
const catchUpPage = 500

// readHistory reads a page after since, retrying a failed read three times
// (after 100, 300 and 700 ms) within ctx.
func (h *Hub) readHistory(ctx context.Context, room string, since streamID) ([]*envelope, error) {
	var err error
	for _, wait := range []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond} {
		if wait > 0 {
			select {
			case <-ctx.Done():
				return nil, errors.Join(err, ctx.Err())
			case <-time.After(wait):
			}
		}
		var es []*envelope
		if es, err = h.readAfter(ctx, room, since, catchUpPage); err == nil {
			return es, nil
		}
	}
	return nil, err
}

// advanceLocked fans e out as the room's next message. Unless a gap before
// e was just announced, the first message after a failover is announced by
// one: its master may have acknowledged messages it never replicated
// (scripts.go).
func (h *Hub) advanceLocked(r *localRoom, e *envelope, gapped bool) {
	if !gapped && e.failover {
		h.log.Warn("realtime: first message after a failover; reporting a gap", "room", r.name, "after", r.lastSeen.String(), "next", e.idStr)
		h.gapLocked(r, e, "failover")
	}
	h.fanoutLocked(r, e)
}

// gapLocked tells every member of r that messages between lastSeen and
// next are lost; the frame is encoded once for all of them.
func (h *Hub) gapLocked(r *localRoom, next *envelope, reason string) {
	h.metrics.gaps.WithLabelValues(reason).Inc()
	frame := encodeFrame(opText, mustJSON(gapFrame{Type: "gap", Room: r.name, After: r.lastSeen.String(), Next: next.idStr, Reason: reason}))
	for c := range r.members {
		c.sendFrame(frame)
	}
}

func (h *Hub) fanoutLocked(r *localRoom, e *envelope) {
	r.lastSeen = e.id
	span := h.startFanout(r.name, e, len(r.members))
	var n fanoutCounts
	b := h.batches.Get().(*writeBatch)
	for c, m := range r.members {
		n.add(c.deliver(m, e, true, b))
	}
	h.handOverBatch(b)
	h.batches.Put(b)
	endFanout(span, n)
}
