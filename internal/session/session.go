// Package session stores login sessions in Redis and authenticates requests:
// login and logout, multi-device listing and revocation, sliding idle and
// absolute timeouts, failed-login limits, and session analytics.
package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/mileusna/useragent"
	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/store"
	"github.com/redlane/redlane/internal/tracking"
)

// Users is the users database, as sessions use it (*store.Store).
type Users interface {
	// VerifyPassword returns the user, or store.ErrInvalidCredentials for a
	// wrong password or an unknown user, taking the same time for both.
	VerifyPassword(ctx context.Context, username, password string) (*store.User, error)
	// GetUser returns the user with id, or an error wrapping store.ErrNotFound.
	GetUser(ctx context.Context, id int64) (*store.User, error)
}

// Errors callers (and the handlers) distinguish.
var (
	ErrBadCredentials = store.ErrInvalidCredentials
	ErrNoSession      = errors.New("no such session")
	ErrExpired        = errors.New("session expired")
	ErrCurrentSession = errors.New("that is the current session")
)

// LockedError says logins are refused for a while after too many failures.
type LockedError struct{ RetryAfter time.Duration }

func (e *LockedError) Error() string {
	return fmt.Sprintf("too many failed logins; retry after %s", e.RetryAfter.Round(time.Second))
}

// UnavailableError wraps a Redis failure: sessions fail closed. Manager
// methods return it inside an errdefs unavailable error (a 503).
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return "session store unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// Session is one login on one device.
type Session struct {
	ID              string    `json:"id"`
	UserID          int64     `json:"user_id"`
	Username        string    `json:"username"`
	CreatedAt       time.Time `json:"created_at"`
	LastSeenAt      time.Time `json:"last_seen_at"`
	IdleExpiresAt   time.Time `json:"idle_expires_at"`
	AbsoluteExpires time.Time `json:"absolute_expires_at"`
	IP              string    `json:"ip"`
	UserAgent       string    `json:"user_agent"`
	Device          string    `json:"device"`
	Browser         string    `json:"browser"`
	OS              string    `json:"os"`
	Current         bool      `json:"current,omitempty"`

	tag string
}

// ExpiresAt is when the session ends if unused: the earlier of the two timeouts.
func (s *Session) ExpiresAt() time.Time {
	if s.AbsoluteExpires.Before(s.IdleExpiresAt) {
		return s.AbsoluteExpires
	}
	return s.IdleExpiresAt
}

// Manager owns the session keys.
type Manager struct {
	rc    *redisx.Client
	cfg   *config.Store
	users Users
	k     keys
	m     *Metrics
	log   *slog.Logger
	now   func() time.Time
	local *local // sessions this pod read, while Redis tracking keeps them coherent
}

// NewManager returns a Manager; call Run to keep analytics gauges fresh.
func NewManager(rc *redisx.Client, cfg *config.Store, users Users, m *Metrics, log *slog.Logger) *Manager {
	return &Manager{rc: rc, cfg: cfg, users: users, k: keys{rc}, m: m, log: log, now: time.Now, local: newLocal(nil, "")}
}

// UseTracker lets lookups answer from a local copy of the sessions this
// pod read, without a Redis round trip, while tr keeps it coherent. Call
// before tr runs; without it every lookup reads Redis.
func (m *Manager) UseTracker(tr *tracking.Tracker) {
	m.local = newLocal(tr, m.k.trackedPrefix())
}

func (m *Manager) spec() config.Sessions { return m.cfg.Current().Spec.Sessions }

// newBudget is one request's Redis budget: spec.redis.commandTimeout for
// all of its session work together.
func (m *Manager) newBudget() *redisx.Budget {
	return redisx.NewBudget(m.cfg.Current().Spec.Redis.CommandTimeout.Duration)
}

// unavailable classifies any Redis failure of the session store as
// unavailable, whatever its kind: a session that cannot be checked is never
// let through.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	return errdefs.Unavailable("The session store", &UnavailableError{Err: err})
}

// Login checks the password and opens a new session (a new token every time).
func (m *Manager) Login(ctx context.Context, username, password, ip, ua string) (string, *Session, *store.User, error) {
	sp := m.spec()
	userHash := usernameHash(username)
	if err := m.checkLocked(ctx, userHash, ip, sp.LoginLimits); err != nil {
		m.m.logins.WithLabelValues(loginResult(err)).Inc()
		return "", nil, nil, err
	}
	u, err := m.users.VerifyPassword(ctx, username, password)
	if errors.Is(err, ErrBadCredentials) {
		m.m.logins.WithLabelValues("bad_credentials").Inc()
		m.recordFailure(ctx, userHash, ip, sp.LoginLimits)
		return "", nil, nil, ErrBadCredentials
	}
	if err != nil {
		m.m.logins.WithLabelValues("error").Inc()
		return "", nil, nil, fmt.Errorf("checking password: %w", err)
	}
	tok, pt, err := newToken(u.ID)
	if err != nil {
		return "", nil, nil, err
	}
	agent := useragent.Parse(ua)
	s := &Session{ID: pt.sid, UserID: u.ID, Username: u.Username, IP: ip, UserAgent: truncate(ua, 256),
		Device: deviceType(agent), Browser: orOther(agent.Name), OS: orOther(agent.OS), tag: pt.tag}
	res, err := loginScript.Run(ctx, m.rc, []string{m.k.session(pt.tag, pt.sid), m.k.index(pt.tag)},
		pt.sid, sp.IdleTimeout.Milliseconds(), sp.AbsoluteTimeout.Milliseconds(), sp.MaxPerUser, m.k.sessionBase(pt.tag),
		"uid", u.ID, "user", u.Username, "ip", s.IP, "ua", s.UserAgent, "device", s.Device, "browser", s.Browser, "os", s.OS,
	).Slice()
	if err != nil {
		m.m.logins.WithLabelValues("error").Inc()
		return "", nil, nil, unavailable(err)
	}
	exp, abs := toInt(res[0]), toInt(res[1])
	s.CreatedAt = time.UnixMilli(abs - sp.AbsoluteTimeout.Milliseconds())
	s.LastSeenAt, s.IdleExpiresAt, s.AbsoluteExpires = s.CreatedAt, time.UnixMilli(exp), time.UnixMilli(abs)
	var evicted []string
	for _, v := range res[2:] {
		evicted = append(evicted, fmt.Sprint(v))
		m.local.drop(m.k.session(pt.tag, fmt.Sprint(v)))
	}
	m.m.logins.WithLabelValues("success").Inc()
	m.afterLogin(ctx, s, userHash, evicted)
	return tok, s, u, nil
}

// Lookup returns the live session a token opens, sliding its idle expiry
// at most once per touch interval.
func (m *Manager) Lookup(ctx context.Context, tok string) (*Session, error) {
	pt, err := parseToken(tok)
	if err != nil {
		m.m.lookups.WithLabelValues("invalid").Inc()
		return nil, err
	}
	key := m.k.session(pt.tag, pt.sid)
	sp := m.spec()
	if s, ok := m.local.get(key); ok && usable(s, m.now(), sp.IdleTimeout.Duration, sp.TouchInterval.Duration) {
		m.local.hits.Add(1)
		m.m.valid.Inc()
		cp := *s
		return &cp, nil
	}
	st, tracked := m.local.begin(key)
	fields, err := m.rc.HGetAll(ctx, key).Result()
	if err != nil {
		m.m.lookups.WithLabelValues("error").Inc()
		return nil, unavailable(err)
	}
	if len(fields) == 0 {
		m.m.lookups.WithLabelValues("missing").Inc()
		return nil, ErrNoSession
	}
	s := fromFields(pt.sid, pt.tag, fields, sp.IdleTimeout.Duration)
	now := m.now()
	if !now.Before(s.AbsoluteExpires) || now.Sub(s.LastSeenAt) >= sp.IdleTimeout.Duration {
		m.m.lookups.WithLabelValues("expired").Inc()
		_, _ = revokeScript.Run(ctx, m.rc, []string{m.k.index(pt.tag)}, m.k.sessionBase(pt.tag), "one", pt.sid).Result()
		return nil, ErrExpired
	}
	if now.Sub(s.LastSeenAt) >= sp.TouchInterval.Duration {
		exp, err := touchScript.Run(ctx, m.rc, []string{m.k.session(pt.tag, pt.sid)}, sp.IdleTimeout.Milliseconds()).Int64()
		if err != nil {
			m.m.lookups.WithLabelValues("error").Inc()
			return nil, unavailable(err)
		}
		if exp == 0 {
			m.m.lookups.WithLabelValues("expired").Inc()
			return nil, ErrExpired
		}
		s.LastSeenAt, s.IdleExpiresAt = now, time.UnixMilli(exp)
		m.local.drop(key)
		m.statsTouch(ctx, s)
	} else {
		// Not after a touch: the touch changed the key, and the report of
		// that write voids this read's install on every pod, this one too.
		cp := *s
		m.local.keep(st, tracked, key, &cp)
	}
	m.m.valid.Inc()
	return s, nil
}

// List returns the user's live sessions, oldest first, marking current.
func (m *Manager) List(ctx context.Context, uid int64, current string) ([]*Session, error) {
	tag := userTag(uid)
	res, err := listScript.Run(ctx, m.rc, []string{m.k.index(tag)}, m.k.sessionBase(tag)).Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	idle := m.spec().IdleTimeout.Duration
	out := make([]*Session, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		sid := fmt.Sprint(res[i])
		fields := map[string]string{}
		if kv, ok := res[i+1].([]any); ok {
			for j := 0; j+1 < len(kv); j += 2 {
				fields[fmt.Sprint(kv[j])] = fmt.Sprint(kv[j+1])
			}
		}
		s := fromFields(sid, tag, fields, idle)
		s.Current = sid == current
		out = append(out, s)
	}
	return out, nil
}

// Logout ends the session of s.
func (m *Manager) Logout(ctx context.Context, s *Session) error {
	_, err := m.revoke(ctx, s.UserID, "one", s.ID)
	return err
}

// RevokeOne ends another session of the same user. It refuses the current
// session (logout is for that) and reports ErrNoSession for unknown ids.
func (m *Manager) RevokeOne(ctx context.Context, uid int64, current, sid string) error {
	if sid == current {
		return ErrCurrentSession
	}
	ended, err := m.revoke(ctx, uid, "one", sid)
	if err != nil {
		return err
	}
	if len(ended) == 0 {
		return ErrNoSession
	}
	return nil
}

// RevokeOthers ends every session of the user but current, returning how many.
func (m *Manager) RevokeOthers(ctx context.Context, uid int64, current string) (int, error) {
	ended, err := m.revoke(ctx, uid, "others", current)
	return len(ended), err
}

// RevokeAll ends every session of a user, e.g. when the user is deleted or
// their password changes.
func (m *Manager) RevokeAll(ctx context.Context, uid int64) (int, error) {
	ended, err := m.revoke(ctx, uid, "all", "")
	return len(ended), err
}

func (m *Manager) revoke(ctx context.Context, uid int64, mode, sid string) ([]string, error) {
	tag := userTag(uid)
	res, err := revokeScript.Run(ctx, m.rc, []string{m.k.index(tag)}, m.k.sessionBase(tag), mode, sid).StringSlice()
	if err != nil {
		return nil, unavailable(err)
	}
	for _, ended := range res {
		m.local.drop(m.k.session(tag, ended))
	}
	m.statsEnded(ctx, res)
	return res, nil
}

// checkLocked refuses a login when the username or the client IP has used
// up its failed attempts.
func (m *Manager) checkLocked(ctx context.Context, userHash, ip string, l config.LoginLimits) error {
	pipe := m.rc.Pipeline()
	u := pipe.Get(ctx, m.k.failUser(userHash))
	uttl := pipe.PTTL(ctx, m.k.failUser(userHash))
	i := pipe.Get(ctx, m.k.failIP(ip))
	ittl := pipe.PTTL(ctx, m.k.failIP(ip))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return unavailable(err)
	}
	var wait time.Duration
	if n, _ := u.Int(); n >= l.PerUsername {
		wait = max(wait, uttl.Val())
	}
	if n, _ := i.Int(); n >= l.PerIP {
		wait = max(wait, ittl.Val())
	}
	if wait > 0 {
		return &LockedError{RetryAfter: wait}
	}
	return nil
}

// recordFailure counts a failed login against the username and the client
// IP, and in the analytics, in one pipelined round trip (the counters and the
// analytics hash are in different slots; a Cluster pipeline splits by node).
// Scripts in a pipeline are sent with EVAL: EVALSHA's NOSCRIPT fallback needs
// the reply first.
func (m *Manager) recordFailure(ctx context.Context, userHash, ip string, l config.LoginLimits) {
	pipe := m.rc.Pipeline()
	for _, key := range []string{m.k.failUser(userHash), m.k.failIP(ip)} {
		failScript.Eval(ctx, pipe, []string{key}, l.Window.Milliseconds())
	}
	m.queueEvent(ctx, pipe, "failed")
	if _, err := pipe.Exec(ctx); err != nil {
		m.log.Warn("recording failed login", "error", err.Error())
	}
}

func loginResult(err error) string {
	var le *LockedError
	if errors.As(err, &le) {
		return "locked"
	}
	return "error"
}

func fromFields(sid, tag string, f map[string]string, idle time.Duration) *Session {
	ms := func(k string) time.Time { n, _ := strconv.ParseInt(f[k], 10, 64); return time.UnixMilli(n) }
	uid, _ := strconv.ParseInt(f["uid"], 10, 64)
	s := &Session{ID: sid, tag: tag, UserID: uid, Username: f["user"], CreatedAt: ms("created"), LastSeenAt: ms("seen"),
		AbsoluteExpires: ms("abs"), IP: f["ip"], UserAgent: f["ua"], Device: f["device"], Browser: f["browser"], OS: f["os"]}
	s.IdleExpiresAt = s.LastSeenAt.Add(idle)
	if s.IdleExpiresAt.After(s.AbsoluteExpires) {
		s.IdleExpiresAt = s.AbsoluteExpires
	}
	return s
}

func usernameHash(name string) string {
	h := sha256.Sum256([]byte(store.NormalizeUsername(name)))
	return hex.EncodeToString(h[:16])
}

func deviceType(a useragent.UserAgent) string {
	switch {
	case a.Bot:
		return "bot"
	case a.Tablet:
		return "tablet"
	case a.Mobile:
		return "mobile"
	case a.Desktop:
		return "desktop"
	}
	return "other"
}

func orOther(s string) string {
	if s == "" {
		return "Other"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func toInt(v any) int64 {
	n, _ := v.(int64)
	return n
}
