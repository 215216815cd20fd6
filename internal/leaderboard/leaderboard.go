// Package leaderboard keeps scored rankings in Redis sorted sets: set,
// increment or keep-best writes, top-N pages, a member's rank with its
// neighbours, and optional daily and weekly boards that expire by
// themselves. Tie order is deterministic: equal scores are ordered by
// member name, byte-wise ascending. It serves the /leaderboards HTTP API.
package leaderboard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/redisx"
)

// Errors callers compare with errors.Is.
var (
	// ErrNotFound: the member has no score on that board.
	ErrNotFound = errdefs.NotFound("The member has no score on this board.")
	// ErrInvalid: input outside the documented bounds; the errdefs error
	// that carries it names the field.
	ErrInvalid = errors.New("invalid leaderboard request")
)

// invalid is the ErrInvalid for one field.
func invalid(field, msg string) error { return errdefs.Invalid(field, msg).Because(ErrInvalid) }

// Bounds.
const (
	MaxScore     = 1e15 // keeps scores exact integers where they are integers (< 2^53)
	MaxMemberLen = 200
	MaxPage      = 100
	MaxAround    = 50
)

// Mode is how a write combines with the member's current score.
type Mode string

// The write modes.
const (
	Set  Mode = "set"  // replace
	Incr Mode = "incr" // add (negative to subtract)
	Best Mode = "best" // keep the higher of the two
)

var boardName = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)

// Boards reads and writes leaderboards. Safe for concurrent use.
type Boards struct {
	rc      *redisx.Client
	keys    keys
	metrics *metrics
	// Now is the clock that picks the current day and week (UTC).
	Now func() time.Time
}

// New returns Boards on rc; metrics go to reg (nil: unregistered).
func New(rc *redisx.Client, reg prometheus.Registerer) *Boards {
	return &Boards{rc: rc, keys: keys{rc}, metrics: newMetrics(reg), Now: time.Now}
}

// Standing is a member's place on one board.
type Standing struct {
	Period string  `json:"period"` // "all", or the day / ISO week of a periodic board
	Rank   int64   `json:"rank"`   // 1 is the top
	Score  float64 `json:"score"`
}

// Submit writes member's score to the all-time board and to the current
// board of each of periods, in one atomic step, and answers the standings.
func (b *Boards) Submit(ctx context.Context, name, member string, score float64, mode Mode, periods []Period) (map[Period]Standing, error) {
	if err := validate(name, member); err != nil {
		return nil, err
	}
	if math.IsNaN(score) || math.Abs(score) > MaxScore {
		return nil, invalid("score", fmt.Sprintf("must be a number between -%g and %g", MaxScore, MaxScore))
	}
	if mode != Set && mode != Incr && mode != Best {
		return nil, invalid("mode", "must be set, incr or best")
	}
	now := b.Now()
	all := []Period{AllTime}
	for _, p := range periods {
		if p != Daily && p != Weekly {
			return nil, invalid("periods", "may only hold daily and weekly")
		}
		all = append(all, p)
	}
	var ks []string
	args := []any{string(mode), member, strconv.FormatFloat(score, 'g', -1, 64), strconv.FormatFloat(MaxScore, 'f', -1, 64)}
	labels := make([]string, 0, len(all))
	for _, p := range all {
		bd, err := b.keys.of(name, p, now)
		if err != nil {
			return nil, err
		}
		ks = append(ks, bd.key)
		labels = append(labels, bd.label)
		exp := int64(0)
		if !bd.expireAt.IsZero() {
			exp = bd.expireAt.UnixMilli()
		}
		args = append(args, exp)
	}
	res, err := scoreScript.Run(ctx, b.rc, ks, args...).Slice()
	if cur, ok := strings.CutPrefix(errString(err), "OUT_OF_RANGE "); ok {
		return nil, invalid("score", fmt.Sprintf("the increment would take the score past ±%g (it is %s); nothing was written", MaxScore, cur))
	}
	if err != nil {
		return nil, fmt.Errorf("writing score of %q on %q: %w", member, name, err)
	}
	out := map[Period]Standing{}
	for i, r := range res {
		f, _ := r.([]any)
		if len(f) != 2 {
			return nil, fmt.Errorf("score script answered %v", r)
		}
		s, _ := f[0].(string)
		rank, _ := f[1].(int64)
		out[all[i]] = Standing{Period: labels[i], Rank: rank + 1, Score: unstore(s)}
	}
	b.metrics.writes.WithLabelValues(string(mode)).Inc()
	return out, nil
}

// Entry is one line of a board.
type Entry struct {
	Rank   int64   `json:"rank"`
	Member string  `json:"member"`
	Score  float64 `json:"score"`
}

// Page is part of a board.
type Page struct {
	Board   string  `json:"board"`
	Period  string  `json:"period"`
	Size    int64   `json:"size"` // members on the board
	Entries []Entry `json:"entries"`
}

// Top reads count entries from offset (0: the top) of a board; at picks
// the day or week of periodic boards.
func (b *Boards) Top(ctx context.Context, name string, p Period, at time.Time, offset, count int) (Page, error) {
	if err := validBoard(name); err != nil {
		return Page{}, err
	}
	if offset < 0 || count < 1 || count > MaxPage {
		return Page{}, errdefs.InvalidFields(map[string]string{"offset": "must be >= 0", "count": fmt.Sprintf("must be 1-%d", MaxPage)}).Because(ErrInvalid)
	}
	bd, err := b.keys.of(name, p, at)
	if err != nil {
		return Page{}, err
	}
	res, err := topScript.Run(ctx, b.rc, []string{bd.key}, offset, count).Slice()
	if err != nil {
		return Page{}, fmt.Errorf("reading board %q: %w", name, err)
	}
	size, _ := res[0].(int64)
	b.metrics.reads.WithLabelValues("top").Inc()
	return Page{Board: name, Period: bd.label, Size: size, Entries: entries(res[1], int64(offset))}, nil
}

// Around is a member's standing with its neighbours.
type Around struct {
	Page
	Member string  `json:"member"`
	Rank   int64   `json:"rank"`
	Score  float64 `json:"score"`
}

// Member reads member's rank and score, with up to around members on each
// side; ErrNotFound when the member has no score on that board.
func (b *Boards) Member(ctx context.Context, name string, p Period, at time.Time, member string, around int) (Around, error) {
	if err := validate(name, member); err != nil {
		return Around{}, err
	}
	if around < 0 || around > MaxAround {
		return Around{}, invalid("around", fmt.Sprintf("must be 0-%d", MaxAround))
	}
	bd, err := b.keys.of(name, p, at)
	if err != nil {
		return Around{}, err
	}
	res, err := memberScript.Run(ctx, b.rc, []string{bd.key}, member, around).Slice()
	if errors.Is(err, redis.Nil) {
		return Around{}, ErrNotFound
	}
	if err != nil {
		return Around{}, fmt.Errorf("reading %q on board %q: %w", member, name, err)
	}
	rank, _ := res[0].(int64)
	size, _ := res[1].(int64)
	from, _ := res[2].(int64)
	a := Around{Page: Page{Board: name, Period: bd.label, Size: size, Entries: entries(res[3], from)}, Member: member, Rank: rank + 1}
	for _, e := range a.Entries {
		if e.Rank == a.Rank {
			a.Score = e.Score
		}
	}
	b.metrics.reads.WithLabelValues("member").Inc()
	return a, nil
}

// entries turns a ZRANGE WITHSCORES reply into ranked entries.
func entries(v any, from int64) []Entry {
	flat, _ := v.([]any)
	out := make([]Entry, 0, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		m, _ := flat[i].(string)
		s, _ := flat[i+1].(string)
		out = append(out, Entry{Rank: from + int64(i/2) + 1, Member: m, Score: unstore(s)})
	}
	return out
}

// unstore turns a stored (negated) score back into the real one.
func unstore(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	if f == 0 {
		return 0 // never -0
	}
	return -f
}

func validate(name, member string) error {
	if err := validBoard(name); err != nil {
		return err
	}
	if msg := memberProblem(member); msg != "" {
		return invalid("member", msg)
	}
	return nil
}

// boardNameRule is what a board name may be, for errors and 400s alike.
const boardNameRule = "board name must be 1-100 of A-Z a-z 0-9 _ . : -"

func validBoard(name string) error {
	if !boardName.MatchString(name) {
		return invalid("name", boardNameRule)
	}
	return nil
}

// memberProblem describes what is wrong with a member name, or "".
func memberProblem(member string) string {
	if member == "" || len(member) > MaxMemberLen || !utf8.ValidString(member) {
		return fmt.Sprintf("member must be 1-%d bytes of UTF-8", MaxMemberLen)
	}
	for _, c := range member {
		if c < 0x20 || c == 0x7f || c == '/' {
			return "member must not contain control characters or /"
		}
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
