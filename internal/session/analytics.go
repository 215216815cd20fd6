package session

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Analytics keys are updated after the per-user script, in a second round
// trip: they are counts for operators, not security state, so a failure here
// is logged and never fails a login.

func (m *Manager) afterLogin(ctx context.Context, s *Session, userHash string, evicted []string) {
	pipe := m.rc.Pipeline()
	pipe.Del(ctx, m.k.failUser(userHash)) // a success clears the username's failures (not the IP's)
	m.queueActive(ctx, pipe, s)
	pipe.HSet(ctx, m.k.statsMeta(), s.ID, s.Device+"|"+s.Browser)
	if len(evicted) > 0 {
		pipe.ZRem(ctx, m.k.statsActive(), anys(evicted)...)
		pipe.HDel(ctx, m.k.statsMeta(), evicted...)
	}
	m.queueEvent(ctx, pipe, "login")
	if _, err := pipe.Exec(ctx); err != nil {
		m.log.Warn("updating session analytics", "error", err.Error())
	}
}

func (m *Manager) statsTouch(ctx context.Context, s *Session) {
	pipe := m.rc.Pipeline()
	m.queueActive(ctx, pipe, s)
	if _, err := pipe.Exec(ctx); err != nil {
		m.log.Debug("updating session analytics", "error", err.Error())
	}
}

func (m *Manager) statsEnded(ctx context.Context, sids []string) {
	if len(sids) == 0 {
		return
	}
	pipe := m.rc.Pipeline()
	pipe.ZRem(ctx, m.k.statsActive(), anys(sids)...)
	pipe.HDel(ctx, m.k.statsMeta(), sids...)
	if _, err := pipe.Exec(ctx); err != nil {
		m.log.Debug("updating session analytics", "error", err.Error())
	}
}

// queueActive records s and its user as active until the session's expiry.
func (m *Manager) queueActive(ctx context.Context, pipe redis.Pipeliner, s *Session) {
	exp := float64(s.ExpiresAt().UnixMilli())
	pipe.ZAdd(ctx, m.k.statsActive(), zmember(exp, s.ID))
	pipe.ZAddGT(ctx, m.k.statsUsers(), zmember(exp, strconv.FormatInt(s.UserID, 10)))
}

// queueEvent counts one event in the minute bucket of today's hash.
func (m *Manager) queueEvent(ctx context.Context, pipe redis.Pipeliner, event string) {
	now := m.now().UTC()
	key := m.k.statsEvents(now.Format("20060102"))
	pipe.HIncrBy(ctx, key, event+":"+now.Format("1504"), 1)
	pipe.Expire(ctx, key, 8*24*time.Hour)
}

// Bucket counts logins in one interval.
type Bucket struct {
	Start   time.Time `json:"start"`
	Success int64     `json:"logins"`
	Failed  int64     `json:"failed_logins"`
}

// Report is what GET /auth/analytics answers.
type Report struct {
	ActiveSessions int64            `json:"active_sessions"`
	ActiveUsers    int64            `json:"active_users"`
	ByDevice       map[string]int64 `json:"sessions_by_device"`
	ByBrowser      map[string]int64 `json:"sessions_by_browser"`
	Interval       string           `json:"interval"`
	Window         string           `json:"window"`
	Logins         []Bucket         `json:"logins"`
	TotalLogins    int64            `json:"total_logins"`
	TotalFailed    int64            `json:"total_failed_logins"`
}

// Analytics reports active sessions and users, sessions per device and
// browser family, and logins and failed logins per interval over window.
func (m *Manager) Analytics(ctx context.Context, window, interval time.Duration) (*Report, error) {
	counts, err := m.pruneStats(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	end := m.now().UTC().Truncate(time.Minute).Add(time.Minute)
	start := end.Add(-window).Truncate(interval)
	// The meta hash and every day's event hash in one round trip (all {stats}).
	pipe := m.rc.Pipeline()
	metaCmd := pipe.HGetAll(ctx, m.k.statsMeta())
	dayCmds := map[string]*redis.MapStringStringCmd{}
	for d := start.Truncate(24 * time.Hour); !d.After(end); d = d.Add(24 * time.Hour) {
		day := d.Format("20060102")
		dayCmds[day] = pipe.HGetAll(ctx, m.k.statsEvents(day))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, unavailable(err)
	}
	meta := metaCmd.Val()
	r := &Report{ActiveSessions: counts[0], ActiveUsers: counts[1], ByDevice: map[string]int64{}, ByBrowser: map[string]int64{},
		Interval: interval.String(), Window: window.String()}
	for _, v := range meta {
		device, browser, _ := strings.Cut(v, "|")
		r.ByDevice[device]++
		r.ByBrowser[browser]++
	}
	buckets := map[int64]*Bucket{}
	for t := start; t.Before(end); t = t.Add(interval) {
		buckets[t.Unix()] = &Bucket{Start: t}
	}
	for day, cmd := range dayCmds {
		for field, v := range cmd.Val() {
			event, hhmm, ok := strings.Cut(field, ":")
			if !ok {
				continue
			}
			t, err := time.Parse("200601021504", day+hhmm)
			if err != nil || t.Before(start) || !t.Before(end) {
				continue
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			b := buckets[t.Truncate(interval).Unix()]
			if b == nil {
				continue
			}
			switch event {
			case "login":
				b.Success += n
				r.TotalLogins += n
			case "failed":
				b.Failed += n
				r.TotalFailed += n
			}
		}
	}
	for _, b := range buckets {
		r.Logins = append(r.Logins, *b)
	}
	sort.Slice(r.Logins, func(i, j int) bool { return r.Logins[i].Start.Before(r.Logins[j].Start) })
	return r, nil
}

// Run keeps the active-session gauges fresh and prunes expired entries from
// the analytics sets, until ctx ends.
func (m *Manager) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		m.refreshGauges(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (m *Manager) refreshGauges(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	counts, err := m.pruneStats(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Debug("refreshing session gauges", "error", err.Error())
		}
		return
	}
	m.m.active.Set(float64(counts[0]))
	m.m.activeUsers.Set(float64(counts[1]))
}

// pruneStats drops expired sessions from the analytics sets and returns
// {active sessions, active users}.
func (m *Manager) pruneStats(ctx context.Context) ([]int64, error) {
	return pruneStatsScript.Run(ctx, m.rc, []string{m.k.statsActive(), m.k.statsUsers(), m.k.statsMeta()}).Int64Slice()
}

func zmember(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
