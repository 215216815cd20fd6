package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redistest"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/store"
)

// testUsers is the users database as these unit tests need it; the HTTP
// tests in cmd/redlane use the real one.
type testUsers map[string]*store.User

func (u testUsers) VerifyPassword(_ context.Context, name, pw string) (*store.User, error) {
	if x, ok := u[name]; ok && pw == "pw-"+name {
		return x, nil
	}
	return nil, ErrBadCredentials
}

func (u testUsers) GetUser(_ context.Context, id int64) (*store.User, error) {
	for _, x := range u {
		if x.ID == id {
			return x, nil
		}
	}
	return nil, store.ErrNotFound
}

var users = testUsers{
	"alice": &store.User{ID: 1, Username: "alice", Role: "user"},
	"bob":   &store.User{ID: 2, Username: "bob", Role: "admin"},
}

type env struct {
	t   testing.TB
	rc  *redisx.Client
	raw redis.UniversalClient
	cfg *config.Store
	m   *Manager
}

// setup returns a Manager on the given Redis with sessions settings mut.
func setup(t testing.TB, redisCfg func(*config.Redis), mut func(*config.Sessions)) *env {
	t.Helper()
	c := &config.Config{}
	redisCfg(&c.Spec.Redis)
	if c.Spec.Redis.KeyPrefix == "" { // two pods of one test share theirs
		c.Spec.Redis.KeyPrefix = fmt.Sprintf("t%d:", time.Now().UnixNano())
	}
	config.SetDefaults(c)
	mut(&c.Spec.Sessions)
	if err := config.Validate(c); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rc, err := redisx.Open(c.Spec.Redis, redisx.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	store := config.NewStore(c, "")
	return &env{t: t, rc: rc, raw: rc.UniversalClient, cfg: store, m: NewManager(rc, store, users, NewMetrics(prometheus.NewRegistry()), log)}
}

func (e *env) login(name string) (string, *Session) {
	e.t.Helper()
	tok, s, _, err := e.m.Login(context.Background(), name, "pw-"+name, "192.0.2.1",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
	if err != nil {
		e.t.Fatalf("login %s: %v", name, err)
	}
	return tok, s
}

func TestSessions(t *testing.T) {
	standalone := redistest.Start(t)
	cluster := redistest.StartCluster(t, 3, 0)
	modes := []struct {
		name    string
		cfg     func(*config.Redis)
		tracked bool // lookups may answer from the pod's tracked copy
	}{
		{"standalone", func(r *config.Redis) { r.URL = standalone.URL() }, false},
		{"cluster", func(r *config.Redis) { r.Addrs = cluster.Addrs() }, false},
		{"standalone tracked", func(r *config.Redis) { r.URL = standalone.URL() }, true},
		{"cluster tracked", func(r *config.Redis) { r.Addrs = cluster.Addrs() }, true},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			setup := setup
			if mode.tracked {
				setup = setupTracked
			}
			t.Run("login lookup list logout", func(t *testing.T) { testRoundTrip(t, setup(t, mode.cfg, func(*config.Sessions) {})) })
			t.Run("only a hash is stored", func(t *testing.T) { testOnlyHashStored(t, setup(t, mode.cfg, func(*config.Sessions) {})) })
			t.Run("idle timeout", func(t *testing.T) {
				testIdle(t, setup(t, mode.cfg, func(s *config.Sessions) {
					s.IdleTimeout, s.TouchInterval = config.D(2*time.Second), config.D(100*time.Millisecond)
				}))
			})
			t.Run("absolute timeout", func(t *testing.T) {
				testAbsolute(t, setup(t, mode.cfg, func(s *config.Sessions) {
					s.IdleTimeout, s.AbsoluteTimeout, s.TouchInterval = config.D(time.Second), config.D(1500*time.Millisecond), config.D(50*time.Millisecond)
				}))
			})
			t.Run("touch is rate limited", func(t *testing.T) { testTouchLimited(t, setup(t, mode.cfg, func(*config.Sessions) {})) })
			t.Run("cap evicts oldest", func(t *testing.T) {
				testCap(t, setup(t, mode.cfg, func(s *config.Sessions) { s.MaxPerUser = 3 }))
			})
			t.Run("revocation", func(t *testing.T) { testRevoke(t, setup(t, mode.cfg, func(*config.Sessions) {})) })
			t.Run("failed login limits", func(t *testing.T) {
				testLoginLimits(t, setup(t, mode.cfg, func(s *config.Sessions) { s.LoginLimits.PerUsername, s.LoginLimits.PerIP = 3, 5 }))
			})
			t.Run("analytics", func(t *testing.T) { testAnalytics(t, setup(t, mode.cfg, func(*config.Sessions) {})) })
		})
	}
}

func testRoundTrip(t *testing.T, e *env) {
	ctx := context.Background()
	tok, s := e.login("alice")
	if !strings.HasPrefix(tok, "rls_") || len(tok) < 43 {
		t.Fatalf("token %q", tok)
	}
	if s.ID == "" || strings.Contains(tok, s.ID) {
		t.Fatalf("session id %q must exist and not be part of the token", s.ID)
	}
	got, err := e.m.Lookup(ctx, tok)
	if err != nil || got.UserID != 1 || got.Username != "alice" || got.Browser != "Chrome" || got.Device != "desktop" {
		t.Fatalf("lookup = %+v, %v", got, err)
	}
	tok2, _ := e.login("alice") // a second device
	if tok2 == tok {
		t.Fatal("login reused a token")
	}
	list, err := e.m.List(ctx, 1, s.ID)
	if err != nil || len(list) != 2 || !list[0].Current || list[1].Current {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if err := e.m.Logout(ctx, got); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Lookup(ctx, tok); !errors.Is(err, ErrNoSession) {
		t.Fatalf("lookup after logout: %v", err)
	}
	if _, err := e.m.Lookup(ctx, tok2); err != nil {
		t.Fatalf("other device logged out too: %v", err)
	}
	for _, bad := range []string{"", "garbage", "rls_" + strings.Repeat("a", 54), tok[:len(tok)-1] + "!", strings.Repeat("x", 5000)} {
		if _, err := e.m.Lookup(ctx, bad); err == nil {
			t.Errorf("lookup(%q) succeeded", bad)
		}
	}
}

// testOnlyHashStored reads every key and value in Redis and looks for the token.
func testOnlyHashStored(t *testing.T, e *env) {
	tok, s := e.login("alice")
	secret := tok[len(tok)-43:]
	var dump strings.Builder
	var mu sync.Mutex
	scan := func(ctx context.Context, c *redis.Client) error {
		mu.Lock() // ForEachMaster runs this on every master at once
		defer mu.Unlock()
		iter := c.Scan(ctx, 0, e.rc.Prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			dump.WriteString(k + "\n")
			switch c.Type(ctx, k).Val() {
			case "hash":
				for f, v := range c.HGetAll(ctx, k).Val() {
					dump.WriteString(f + "=" + v + "\n")
				}
			case "zset":
				dump.WriteString(strings.Join(c.ZRange(ctx, k, 0, -1).Val(), ",") + "\n")
			case "string":
				dump.WriteString(c.Get(ctx, k).Val() + "\n")
			}
		}
		return iter.Err()
	}
	ctx := context.Background()
	if cc, ok := e.raw.(*redis.ClusterClient); ok {
		if err := cc.ForEachMaster(ctx, scan); err != nil {
			t.Fatal(err)
		}
	} else if err := scan(ctx, e.raw.(*redis.Client)); err != nil {
		t.Fatal(err)
	}
	d := dump.String()
	if !strings.Contains(d, s.ID) {
		t.Fatalf("dump does not contain the session at all:\n%s", d)
	}
	if strings.Contains(d, secret) || strings.Contains(d, tok) {
		t.Fatalf("raw token found in Redis:\n%s", d)
	}
}

func testIdle(t *testing.T, e *env) {
	ctx := context.Background()
	tok, _ := e.login("alice")
	// Used every 300ms, the session outlives its 2s idle timeout.
	for i := 0; i < 10; i++ {
		time.Sleep(300 * time.Millisecond)
		if _, err := e.m.Lookup(ctx, tok); err != nil {
			t.Fatalf("active session expired after %d uses: %v", i, err)
		}
	}
	// Left alone, it ends.
	time.Sleep(2300 * time.Millisecond)
	if _, err := e.m.Lookup(ctx, tok); !errors.Is(err, ErrNoSession) && !errors.Is(err, ErrExpired) {
		t.Fatalf("idle session still valid: %v", err)
	}
	if list, _ := e.m.List(ctx, 1, ""); len(list) != 0 {
		t.Fatalf("index lists an expired session: %+v", list)
	}
}

func testAbsolute(t *testing.T, e *env) {
	ctx := context.Background()
	tok, s := e.login("alice")
	if !s.AbsoluteExpires.After(time.Now()) {
		t.Fatal("absolute expiry in the past")
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(150 * time.Millisecond)
		if _, err := e.m.Lookup(ctx, tok); err != nil {
			if time.Since(s.CreatedAt) < 1400*time.Millisecond {
				t.Fatalf("session ended before its absolute timeout: %v", err)
			}
			return
		}
	}
	t.Fatal("an active session outlived its absolute timeout")
}

func testTouchLimited(t *testing.T, e *env) {
	ctx := context.Background()
	tok, s := e.login("alice")
	key := e.m.k.session(s.tag, s.ID)
	seen := e.raw.HGet(ctx, key, "seen").Val()
	ttl := e.raw.PTTL(ctx, key).Val()
	for i := 0; i < 50; i++ {
		if _, err := e.m.Lookup(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.raw.HGet(ctx, key, "seen").Val(); got != seen {
		t.Fatalf("50 reads within the touch interval wrote last-seen (%s -> %s)", seen, got)
	}
	if got := e.raw.PTTL(ctx, key).Val(); got > ttl {
		t.Fatalf("TTL was extended without a touch: %s -> %s", ttl, got)
	}
	// Past the interval, one read touches.
	next := config.Clone(e.cfg.Current())
	next.Spec.Sessions.TouchInterval = config.D(10 * time.Millisecond)
	e.cfg.Apply(next)
	time.Sleep(20 * time.Millisecond)
	if _, err := e.m.Lookup(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if got := e.raw.HGet(ctx, key, "seen").Val(); got == seen {
		t.Fatal("a read past the touch interval did not touch")
	}
}

func testCap(t *testing.T, e *env) {
	ctx := context.Background()
	var toks []string
	for i := 0; i < 5; i++ {
		tok, _ := e.login("alice")
		toks = append(toks, tok)
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	list, err := e.m.List(ctx, 1, "")
	if err != nil || len(list) != 3 {
		t.Fatalf("list after 5 logins with cap 3 = %d, %v", len(list), err)
	}
	for i, tok := range toks {
		_, err := e.m.Lookup(ctx, tok)
		if (i < 2) != (err != nil) {
			t.Errorf("token %d: err=%v (the two oldest must be evicted, the rest live)", i, err)
		}
	}
}

func testRevoke(t *testing.T, e *env) {
	ctx := context.Background()
	tokA, a := e.login("alice")
	tokB, b := e.login("alice")
	tokC, _ := e.login("alice")
	tokBob, _ := e.login("bob")
	if err := e.m.RevokeOne(ctx, 1, a.ID, a.ID); !errors.Is(err, ErrCurrentSession) {
		t.Fatalf("revoking the current session: %v", err)
	}
	if err := e.m.RevokeOne(ctx, 1, a.ID, "000000000000000000000000"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("revoking an unknown session: %v", err)
	}
	bobSessions, _ := e.m.List(ctx, 2, "")
	if err := e.m.RevokeOne(ctx, 1, a.ID, bobSessions[0].ID); !errors.Is(err, ErrNoSession) {
		t.Fatalf("alice revoked bob's session: %v", err)
	}
	if err := e.m.RevokeOne(ctx, 1, a.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Lookup(ctx, tokB); err == nil {
		t.Fatal("revoked session still valid")
	}
	n, err := e.m.RevokeOthers(ctx, 1, a.ID)
	if err != nil || n != 1 {
		t.Fatalf("revoke others = %d, %v (want 1: C)", n, err)
	}
	for tok, want := range map[string]bool{tokA: true, tokC: false, tokBob: true} {
		if _, err := e.m.Lookup(ctx, tok); (err == nil) != want {
			t.Errorf("after revoke-others, token valid=%v, want %v", err == nil, want)
		}
	}
}

func testLoginLimits(t *testing.T, e *env) {
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, _, _, err := e.m.Login(ctx, "alice", "wrong", "198.51.100.1", ""); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	var le *LockedError
	if _, _, _, err := e.m.Login(ctx, "alice", "pw-alice", "198.51.100.2", ""); !errors.As(err, &le) || le.RetryAfter <= 0 {
		t.Fatalf("4th login for a username with 3 failures: %v", err)
	}
	// Bob from the same IP is fine until the IP's own limit (5) is used up.
	e.m.Login(ctx, "bob", "wrong", "198.51.100.1", "")
	if _, _, _, err := e.m.Login(ctx, "bob", "pw-bob", "198.51.100.1", ""); err != nil {
		t.Fatalf("bob blocked by alice's failures: %v", err)
	}
	e.m.Login(ctx, "nobody", "wrong", "198.51.100.1", "")
	if _, _, _, err := e.m.Login(ctx, "bob", "pw-bob", "198.51.100.1", ""); !errors.As(err, &le) {
		t.Fatalf("IP with 5 failures not limited: %v", err)
	}
}

func testAnalytics(t *testing.T, e *env) {
	ctx := context.Background()
	e.login("alice")
	e.login("alice")
	e.login("bob")
	e.m.Login(ctx, "bob", "wrong", "203.0.113.9", "")
	r, err := e.m.Analytics(ctx, time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if r.ActiveSessions != 3 || r.ActiveUsers != 2 || r.ByDevice["desktop"] != 3 || r.ByBrowser["Chrome"] != 3 || r.TotalLogins != 3 || r.TotalFailed != 1 {
		t.Fatalf("analytics = %+v", r)
	}
	if len(r.Logins) < 60 || len(r.Logins) > 62 {
		t.Fatalf("%d one-minute buckets over an hour", len(r.Logins))
	}
}

func TestUnavailableFailsClosed(t *testing.T) {
	s := redistest.Start(t)
	e := setup(t, func(r *config.Redis) { r.URL = s.URL() }, func(*config.Sessions) {})
	tok, _ := e.login("alice")
	s.Stop()
	var ue *UnavailableError
	if _, err := e.m.Lookup(context.Background(), tok); !errors.As(err, &ue) {
		t.Fatalf("lookup with Redis down: %v", err)
	}
	if _, _, _, err := e.m.Login(context.Background(), "alice", "pw-alice", "192.0.2.1", ""); !errors.As(err, &ue) {
		t.Fatalf("login with Redis down: %v", err)
	}
	s.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, _, err := e.m.Login(context.Background(), "alice", "pw-alice", "192.0.2.1", "")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("login did not recover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
