package leaderboard

import (
	"fmt"
	"time"

	"github.com/redlane/redlane/internal/redisx"
)

// Redis keys of board B, all under the hash tag {B} so a score write updates
// the all-time and periodic boards in one script on one Cluster slot:
//
//	<prefix>lb:{B}:all                 ZSET member -> -score, no TTL
//	<prefix>lb:{B}:daily:2026-11-27    ZSET, expires Retention(daily) after the UTC day ends
//	<prefix>lb:{B}:weekly:2026-W48     ZSET, expires Retention(weekly) after the ISO week ends
//
// Scores are stored negated: ZRANGE (ascending) then lists the highest score
// first, and Redis orders equal scores by member, byte-wise ascending, which
// is the documented tie order. Only scoreScript writes these keys.
type keys struct{ rc *redisx.Client }

// Period selects a board: the all-time one, or the day's or week's.
type Period string

// The periods a board has.
const (
	AllTime Period = "all"
	Daily   Period = "daily"
	Weekly  Period = "weekly"
)

// Retention is how long a periodic board stays readable after its period ends.
func Retention(p Period) time.Duration {
	if p == Weekly {
		return 5 * 7 * 24 * time.Hour
	}
	return 7 * 24 * time.Hour
}

// board is one concrete board: its key and, for periodic ones, when it expires.
type board struct {
	key      string
	label    string    // "all", "2026-11-27", "2026-W48"
	expireAt time.Time // zero for all-time
}

func (k keys) of(name string, p Period, at time.Time) (board, error) {
	base := k.rc.Key("lb", "{"+name+"}")
	at = at.UTC()
	day := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
	switch p {
	case AllTime, "":
		return board{key: base + ":all", label: "all"}, nil
	case Daily:
		label := day.Format("2006-01-02")
		return board{key: base + ":daily:" + label, label: label, expireAt: day.AddDate(0, 0, 1).Add(Retention(Daily))}, nil
	case Weekly:
		y, w := at.ISOWeek()
		monday := day.AddDate(0, 0, -((int(at.Weekday()) + 6) % 7))
		label := fmt.Sprintf("%04d-W%02d", y, w)
		return board{key: base + ":weekly:" + label, label: label, expireAt: monday.AddDate(0, 0, 7).Add(Retention(Weekly))}, nil
	}
	return board{}, invalid("period", fmt.Sprintf("must be all, daily or weekly, got %q", p))
}
