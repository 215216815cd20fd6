package realtime

import (
	"strconv"
	"strings"
)

// streamID is a parsed Redis stream id "ms-seq"; ids order a room's
// messages. Each message also records its predecessor's id (the p field the
// publish script writes), so continuous can prove a run of messages has no
// hole.
type streamID struct{ ms, seq uint64 }

// parseID reads "ms-seq", or "ms" meaning seq 0; false for anything else.
func parseID(s string) (streamID, bool) {
	if s == "" {
		return streamID{}, false
	}
	msPart, seqPart, found := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(msPart, 10, 64)
	if err != nil {
		return streamID{}, false
	}
	var seq uint64
	if found {
		if seq, err = strconv.ParseUint(seqPart, 10, 64); err != nil {
			return streamID{}, false
		}
	}
	return streamID{ms, seq}, true
}

// less reports whether a comes before b.
func (a streamID) less(b streamID) bool {
	return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq)
}

// isZero reports the zero id: before every message.
func (a streamID) isZero() bool { return a.ms == 0 && a.seq == 0 }

// String formats the id as Redis does, "ms-seq".
func (a streamID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

// continuous reports whether e directly follows last: its recorded
// predecessor is last. Zero last means "from the very beginning", which
// only the room's first message (no predecessor) satisfies.
func continuous(last streamID, e *envelope) bool {
	if e.prev == "" {
		return last.isZero() || !last.less(e.id) // first message ever (or a made-up since)
	}
	p, ok := parseID(e.prev)
	if !ok {
		return false
	}
	// A predecessor at or before last means nothing between last and e was
	// ever published (last may be an id the client made up).
	return !last.less(p)
}
