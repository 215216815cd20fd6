package leaderboard

import (
	"math"
	"net/http"
	"time"

	"github.com/redlane/redlane/internal/web"
)

type scoreRequest struct {
	Member  string   `json:"member"`
	Score   *float64 `json:"score"`
	Mode    string   `json:"mode"`    // set (default), incr or best
	Periods []string `json:"periods"` // also write today's / this week's board
}

func (q scoreRequest) Valid() map[string]string {
	f := map[string]string{}
	if msg := memberProblem(q.Member); msg != "" {
		f["member"] = msg
	}
	switch {
	case q.Score == nil:
		f["score"] = "must be present"
	case math.Abs(*q.Score) > MaxScore:
		f["score"] = "must be between -1e15 and 1e15"
	}
	switch Mode(q.Mode) {
	case "", Set, Incr, Best:
	default:
		f["mode"] = "must be set, incr or best"
	}
	if len(q.Periods) > 2 {
		f["periods"] = "may hold daily and weekly, once each"
	}
	for _, p := range q.Periods {
		if p != string(Daily) && p != string(Weekly) {
			f["periods"] = "may only hold daily and weekly"
		}
	}
	return f
}

type scoreAnswer struct {
	Board     string              `json:"board"`
	Member    string              `json:"member"`
	Standings map[Period]Standing `json:"standings"`
}

// HandleScore serves POST /leaderboards/{name}/scores {"member","score",
// "mode","periods"}.
func (b *Boards) HandleScore() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, err := pathBoard(r)
		if err != nil {
			return err
		}
		q, err := web.Decode[scoreRequest](r)
		if err != nil {
			return err
		}
		mode := Mode(q.Mode)
		if mode == "" {
			mode = Set
		}
		var periods []Period
		for _, p := range q.Periods {
			periods = append(periods, Period(p))
		}
		st, err := b.Submit(r.Context(), name, q.Member, *q.Score, mode, periods)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, scoreAnswer{Board: name, Member: q.Member, Standings: st})
	})
}

// HandleTop serves GET /leaderboards/{name}?top=N&offset=M&period=&at=:
// a page of the board; "next" is the offset of the following page.
func (b *Boards) HandleTop() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, err := pathBoard(r)
		if err != nil {
			return err
		}
		p, at, err := periodQuery(r, b)
		if err != nil {
			return err
		}
		n, err := web.QueryInt(r, "top", 10, 1, MaxPage)
		if err != nil {
			return err
		}
		off, err := web.QueryInt(r, "offset", 0, 0, 1<<31)
		if err != nil {
			return err
		}
		page, err := b.Top(r.Context(), name, p, at, off, n)
		if err != nil {
			return err
		}
		out := struct {
			Page
			Next *int `json:"next,omitempty"`
		}{Page: page}
		if next := off + len(page.Entries); int64(next) < page.Size && len(page.Entries) == n {
			out.Next = &next
		}
		return web.Encode(w, http.StatusOK, out)
	})
}

// HandleMember serves GET /leaderboards/{name}/members/{member}?around=K:
// rank, score and up to K members on each side; 404 when not on the board.
func (b *Boards) HandleMember() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, err := pathBoard(r)
		if err != nil {
			return err
		}
		member := web.Var(r, "member")
		if msg := memberProblem(member); msg != "" {
			return web.BadRequest("member", msg)
		}
		p, at, err := periodQuery(r, b)
		if err != nil {
			return err
		}
		around, err := web.QueryInt(r, "around", 2, 0, MaxAround)
		if err != nil {
			return err
		}
		a, err := b.Member(r.Context(), name, p, at, member, around)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, a)
	})
}

func pathBoard(r *http.Request) (string, error) {
	name := web.Var(r, "name")
	if !boardName.MatchString(name) {
		return "", web.BadRequest("name", boardNameRule)
	}
	return name, nil
}

// periodQuery reads period (all, daily, weekly) and at (a date, YYYY-MM-DD;
// default today, UTC) from the query.
func periodQuery(r *http.Request, b *Boards) (Period, time.Time, error) {
	p := Period(r.URL.Query().Get("period"))
	switch p {
	case "":
		p = AllTime
	case AllTime, Daily, Weekly:
	default:
		return "", time.Time{}, web.BadRequest("period", "period must be all, daily or weekly")
	}
	at := b.Now()
	if s := r.URL.Query().Get("at"); s != "" {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			return "", time.Time{}, web.BadRequest("at", "at must be a date such as 2026-11-27")
		}
		at = d
	}
	return p, at, nil
}
