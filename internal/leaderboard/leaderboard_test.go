package leaderboard_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/leaderboard"
	"github.com/redlane/redlane/internal/redistest"
	"github.com/redlane/redlane/internal/redisx"
)

var ctx = context.Background()

func TestBoards(t *testing.T) {
	for _, be := range redistest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			rc1, rc2 := be.Open(t)
			a, b := leaderboard.New(rc1, nil), leaderboard.New(rc2, nil)
			t.Run("modes, tie order, pages, neighbours", func(t *testing.T) { testOrder(t, a) })
			t.Run("concurrent writers are atomic", func(t *testing.T) { testConcurrent(t, a, b) })
			t.Run("periodic boards expire by themselves", func(t *testing.T) { testPeriods(t, a, rc1) })
		})
	}
}

func submit(t *testing.T, b *leaderboard.Boards, board, member string, score float64, mode leaderboard.Mode, periods ...leaderboard.Period) map[leaderboard.Period]leaderboard.Standing {
	t.Helper()
	st, err := b.Submit(ctx, board, member, score, mode, periods)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func testOrder(t *testing.T, b *leaderboard.Boards) {
	for _, s := range []struct {
		m string
		v float64
	}{{"mallory", 50}, {"alice", 50}, {"bob", 70}, {"zoe", 50}, {"dave", -3.25}} {
		submit(t, b, "order", s.m, s.v, leaderboard.Set)
	}
	if st := submit(t, b, "order", "bob", 60, leaderboard.Best); st[leaderboard.AllTime].Score != 70 {
		t.Fatalf("best kept %v, want 70", st[leaderboard.AllTime].Score)
	}
	if st := submit(t, b, "order", "dave", 4.5, leaderboard.Incr); st[leaderboard.AllTime].Score != 1.25 || st[leaderboard.AllTime].Rank != 5 {
		t.Fatalf("incr = %+v", st[leaderboard.AllTime])
	}
	page, err := b.Top(ctx, "order", leaderboard.AllTime, time.Now(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bob", "alice", "mallory", "zoe", "dave"} // ties: by member name
	if page.Size != 5 || len(page.Entries) != 5 {
		t.Fatalf("page = %+v", page)
	}
	for i, e := range page.Entries {
		if e.Member != want[i] || e.Rank != int64(i+1) {
			t.Fatalf("entry %d = %+v, want %s at rank %d (page %+v)", i, e, want[i], i+1, page.Entries)
		}
	}
	p2, _ := b.Top(ctx, "order", leaderboard.AllTime, time.Now(), 2, 2)
	if len(p2.Entries) != 2 || p2.Entries[0].Member != "mallory" || p2.Entries[0].Rank != 3 {
		t.Fatalf("second page = %+v", p2)
	}
	a, err := b.Member(ctx, "order", leaderboard.AllTime, time.Now(), "mallory", 1)
	if err != nil || a.Rank != 3 || a.Score != 50 || len(a.Entries) != 3 || a.Entries[0].Member != "alice" || a.Entries[2].Member != "zoe" {
		t.Fatalf("around mallory = %+v %v", a, err)
	}
	if a, _ := b.Member(ctx, "order", leaderboard.AllTime, time.Now(), "bob", 2); len(a.Entries) != 3 || a.Entries[0].Rank != 1 {
		t.Fatalf("around the top = %+v", a)
	}
	if _, err := b.Member(ctx, "order", leaderboard.AllTime, time.Now(), "nobody", 2); !errors.Is(err, leaderboard.ErrNotFound) {
		t.Fatalf("unknown member = %v", err)
	}
	if _, err := b.Submit(ctx, "order", "x", 2e15, leaderboard.Set, nil); !errors.Is(err, leaderboard.ErrInvalid) {
		t.Fatalf("absurd score = %v", err)
	}
}

func testConcurrent(t *testing.T, a, b *leaderboard.Boards) {
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		bd := []*leaderboard.Boards{a, b}[g%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if _, err := bd.Submit(ctx, "conc", "sum", 1, leaderboard.Incr, []leaderboard.Period{leaderboard.Daily}); err != nil {
					t.Error(err)
				}
				if _, err := bd.Submit(ctx, "conc", "max", float64(g*100+i), leaderboard.Best, nil); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range []struct {
		member string
		period leaderboard.Period
		want   float64
	}{{"sum", leaderboard.AllTime, 200}, {"sum", leaderboard.Daily, 200}, {"max", leaderboard.AllTime, 724}} {
		m, err := a.Member(ctx, "conc", c.period, time.Now(), c.member, 0)
		if err != nil || m.Score != c.want {
			t.Errorf("%s on %s = %+v %v, want %v", c.member, c.period, m, err, c.want)
		}
	}
}

func testPeriods(t *testing.T, b *leaderboard.Boards, rc *redisx.Client) {
	now := time.Now().UTC()
	// The coming Sunday, 23:00 UTC: the next hour is a new day and ISO week.
	sunday := time.Date(now.Year(), now.Month(), now.Day(), 23, 0, 0, 0, time.UTC).AddDate(0, 0, (7-int(now.Weekday()))%7)
	b.Now = func() time.Time { return sunday }
	defer func() { b.Now = time.Now }()
	y, w := sunday.ISOWeek()
	st := submit(t, b, "season", "ann", 10, leaderboard.Set, leaderboard.Daily, leaderboard.Weekly)
	if st[leaderboard.Daily].Period != sunday.Format("2006-01-02") || st[leaderboard.Weekly].Period != fmt.Sprintf("%04d-W%02d", y, w) {
		t.Fatalf("periods = %+v", st)
	}
	b.Now = func() time.Time { return sunday.Add(2 * time.Hour) }
	st = submit(t, b, "season", "ann", 5, leaderboard.Incr, leaderboard.Daily, leaderboard.Weekly)
	if st[leaderboard.AllTime].Score != 15 || st[leaderboard.Daily].Score != 5 || st[leaderboard.Weekly].Score != 5 || st[leaderboard.Weekly].Period == fmt.Sprintf("%04d-W%02d", y, w) {
		t.Fatalf("next day = %+v", st)
	}
	p, err := b.Top(ctx, "season", leaderboard.Daily, sunday, 0, 10)
	if err != nil || p.Period != sunday.Format("2006-01-02") || len(p.Entries) != 1 || p.Entries[0].Score != 10 {
		t.Fatalf("Sunday's board = %+v %v", p, err)
	}
	// Periodic boards expire Retention after their period ends; all-time never.
	limit := time.Until(sunday.Add(25*time.Hour)) + leaderboard.Retention(leaderboard.Weekly) + 7*24*time.Hour
	keys, err := rc.Keys(ctx, "*{season}*").Result()
	if err != nil || len(keys) != 5 {
		t.Fatalf("keys = %v %v, want all + 2 daily + 2 weekly", keys, err)
	}
	for _, k := range keys {
		ttl := rc.PTTL(ctx, k).Val()
		if strings.HasSuffix(k, ":all") != (ttl < 0) || ttl > limit {
			t.Errorf("%s expires in %s", k, ttl)
		}
	}
}
