package chaos

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// msgID is a parsed stream id "ms-seq". Its ms part is the Redis clock at
// publish, which is also this machine's clock: ids tell when.
type msgID struct{ ms, seq uint64 }

func parseMsgID(s string) msgID {
	a, b, _ := strings.Cut(s, "-")
	ms, _ := strconv.ParseUint(a, 10, 64)
	seq, _ := strconv.ParseUint(b, 10, 64)
	return msgID{ms, seq}
}

func (a msgID) less(b msgID) bool { return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq) }

func idLess(a, b string) bool { return parseMsgID(a).less(parseMsgID(b)) }

// chatTruth is what a room really holds after a scenario: the messages
// whose publish was acknowledged, and the room's history read back.
type chatTruth struct {
	acked   map[string][]string // room -> ids answered 2xx
	history map[string][]string // room -> ids in history afterwards
	direct  []string            // rooms whose history no instance served (read from Redis)
}

// lostAcked counts acknowledged messages missing from history, and names
// the first.
func (t chatTruth) lostAcked() (int, string) {
	n, first := 0, ""
	for room, ids := range t.acked {
		in := map[string]bool{}
		for _, id := range t.history[room] {
			in[id] = true
		}
		for _, id := range ids {
			if !in[id] {
				if n == 0 {
					first = room + "/" + id
				}
				n++
			}
		}
	}
	return n, first
}

// owed is every message of room that exists or was acknowledged, sorted.
func (t chatTruth) owed(room string) []string {
	set := map[string]bool{}
	for _, id := range t.acked[room] {
		set[id] = true
	}
	for _, id := range t.history[room] {
		set[id] = true
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return idLess(out[i], out[j]) })
	return out
}

// chatVerdict sums up what clients saw against the truth.
type chatVerdict struct {
	clients    int
	received   int
	silentLost int // owed messages neither received nor inside a gap frame's range
	lossy      int // clients with silent losses
	covered    int // owed messages not received, named by a gap, and gone from history: lost, and said so
	skipped    int // owed messages not received, named by a gap, but in history: a false gap made the client skip them
	gaps       int // gap frames
	emptyGaps  int // gap frames that name no missing message: false alarms
	dups       int // messages received again
	disorder   int // messages received after a newer one
	offline    int // clients not joined at the end
	dialFails  int
	closes     map[int]int // close code -> count
	example    string      // the first silent loss, for the report
}

// checkChat judges each client: it is owed every message after its base.
// A message it did not receive counts as covered when a gap frame's range
// (after, next) contains it; otherwise as a silent loss. A client that was
// not joined at the end is not owed what came after it last left.
func checkChat(recs []chatRecord, t chatTruth) chatVerdict {
	v := chatVerdict{clients: len(recs), closes: map[int]int{}}
	owedBy := map[string][]string{}
	inHistory := map[string]bool{}
	for _, ids := range t.history {
		for _, id := range ids {
			inHistory[id] = true
		}
	}
	for _, rec := range recs {
		v.received += len(rec.IDs)
		v.gaps += len(rec.Gaps)
		v.dialFails += rec.DialFailures
		for _, c := range rec.Closes {
			v.closes[c.Code]++
		}
		if !rec.Online {
			v.offline++
		}
		if rec.Base == "" {
			continue // never joined: owed nothing, counted by the scenario
		}
		owed, ok := owedBy[rec.Room]
		if !ok {
			owed = t.owed(rec.Room)
			owedBy[rec.Room] = owed
		}
		got := map[string]bool{}
		var newest msgID
		for _, id := range rec.IDs {
			m := parseMsgID(id)
			switch {
			case got[id]:
				v.dups++
			case m.less(newest):
				v.disorder++
			}
			got[id] = true
			if newest.less(m) {
				newest = m
			}
		}
		base := parseMsgID(rec.Base)
		// A client that ended offline is owed nothing after the end of its
		// last joined session: what it missed since, it knows it missed.
		var until *msgID
		if !rec.Online && len(rec.Joins) > 0 {
			last := rec.Joins[len(rec.Joins)-1].At
			for _, c := range rec.Closes {
				if c.At >= last {
					until = &msgID{ms: uint64(c.At)}
					break
				}
			}
		}
		lost := 0
		named := make([]int, len(rec.Gaps)) // missing messages each gap names
		for _, id := range owed {
			m := parseMsgID(id)
			if !base.less(m) || got[id] || (until != nil && until.less(m)) {
				continue
			}
			if g := gapOf(rec, m); g >= 0 {
				named[g]++
				if inHistory[id] {
					v.skipped++
				} else {
					v.covered++
				}
				continue
			}
			if lost == 0 && v.example == "" {
				v.example = fmt.Sprintf("%s missed %s", rec.Room, id)
			}
			lost++
		}
		v.silentLost += lost
		if lost > 0 {
			v.lossy++
		}
		for _, n := range named {
			if n == 0 {
				v.emptyGaps++
			}
		}
	}
	return v
}

// gapOf is the index of the first gap frame of rec that names m as lost
// (m lies after its "after" and before its "next", or, without next,
// before the first message the client received after the gap), -1 if none.
func gapOf(rec chatRecord, m msgID) int {
	for i, g := range rec.Gaps {
		if !parseMsgID(g.After).less(m) {
			continue
		}
		next := g.Next
		if next == "" && g.Pos < len(rec.IDs) {
			next = rec.IDs[g.Pos]
		}
		if next == "" || m.less(parseMsgID(next)) {
			return i
		}
	}
	return -1
}

// summary is the verdict as a figure.
func (v chatVerdict) summary() string {
	s := fmt.Sprintf("%d clients got %d msgs: silent loss %d (%d clients), lost with a gap %d, skipped by a false gap %d, %d gaps (%d naming nothing), dups %d, out of order %d",
		v.clients, v.received, v.silentLost, v.lossy, v.covered, v.skipped, v.gaps, v.emptyGaps, v.dups, v.disorder)
	if v.offline > 0 {
		s += fmt.Sprintf(", %d offline at end", v.offline)
	}
	if v.example != "" {
		s += " (" + v.example + ")"
	}
	return s
}
