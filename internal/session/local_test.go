package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redistest"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/tracking"
)

// setupTracked is setup with the Manager's lookups answered from a local
// copy kept coherent by a running tracker, live before it returns.
func setupTracked(t testing.TB, redisCfg func(*config.Redis), mut func(*config.Sessions)) *env {
	t.Helper()
	e := setup(t, redisCfg, mut)
	trackWith(t, e, e.rc)
	return e
}

// trackWith gives e's Manager a tracker over rc (usually e's own client),
// runs it until the test ends, and waits until it is live.
func trackWith(t testing.TB, e *env, rc *redisx.Client) *tracking.Tracker {
	t.Helper()
	tr := tracking.New(rc, tracking.Options{Logger: slog.New(slog.NewTextHandler(testLog{t}, nil))})
	e.m.UseTracker(tr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = tr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitUntil(t, 20*time.Second, "tracking live", tr.Live)
	return tr
}

// testLog writes the tracker's log lines to the test's log (shown when it
// fails, or with -v); the tracker stops in a Cleanup, before the test ends.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(time.Millisecond)
	}
}

// twoPods is two Managers (two pods) over one Redis deployment, each with
// its own client and tracker, sharing one key prefix.
func twoPods(t *testing.T, redisCfg func(*config.Redis), mut func(*config.Sessions)) (*env, *env) {
	t.Helper()
	prefix := fmt.Sprintf("t%d:", time.Now().UnixNano())
	both := func(r *config.Redis) { redisCfg(r); r.KeyPrefix = prefix }
	return setupTracked(t, both, mut), setupTracked(t, both, mut)
}

// TestLocalLookupCostsNoRoundTrip: with tracking live, a lookup of a
// session this pod read before sends no Redis command; the lookup that
// slides the idle expiry (once per touchInterval) does.
func TestLocalLookupCostsNoRoundTrip(t *testing.T) {
	s := redistest.Start(t)
	e := setupTracked(t, func(r *config.Redis) { r.URL = s.URL() }, func(*config.Sessions) {})
	cmds := redistest.CountCommands(e.rc)
	ctx := cmds.Mark(context.Background())
	tok, _ := e.login("alice")
	waitUntil(t, 2*time.Second, "the session copied locally", func() bool {
		before := cmds.N()
		_, err := e.m.Lookup(ctx, tok)
		return err == nil && cmds.N() == before
	})
	before := cmds.N()
	for range 100 {
		if _, err := e.m.Lookup(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := cmds.N() - before; n != 0 {
		t.Fatalf("100 lookups of a tracked session sent %d Redis commands, want 0", n)
	}
	if e.m.local.hits.Load() < 100 {
		t.Fatalf("local hits = %d", e.m.local.hits.Load())
	}
}

// TestRevocationReachesEveryPod: a session in use on pod b (answered from
// b's copy) ends on b within milliseconds of its logout, revocation,
// password change (RevokeAll) or eviction on pod a — standalone and
// Cluster.
func TestRevocationReachesEveryPod(t *testing.T) {
	standalone := redistest.Start(t)
	cluster := redistest.StartCluster(t, 3, 0)
	for _, mode := range []struct {
		name string
		cfg  func(*config.Redis)
	}{
		{"standalone", func(r *config.Redis) { r.URL = standalone.URL() }},
		{"cluster", func(r *config.Redis) { r.Addrs = cluster.Addrs() }},
	} {
		t.Run(mode.name, func(t *testing.T) {
			a, b := twoPods(t, mode.cfg, func(s *config.Sessions) { s.MaxPerUser = 3 })
			ctx := context.Background()
			ends := map[string]func(tok string, s *Session) error{
				"logout":     func(_ string, s *Session) error { return a.m.Logout(ctx, s) },
				"revoke one": func(_ string, s *Session) error { return a.m.RevokeOne(ctx, s.UserID, "other", s.ID) },
				"revoke all": func(_ string, s *Session) error { _, err := a.m.RevokeAll(ctx, s.UserID); return err },
				"evicted by the cap": func(string, *Session) error {
					for range 3 {
						a.login("alice")
					}
					return nil
				},
			}
			for name, end := range ends {
				tok, s := a.login("alice")
				warmLocal(t, b, tok)
				start := time.Now()
				if err := end(tok, s); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				waitUntil(t, time.Second, name+" seen on b", func() bool {
					_, err := b.m.Lookup(ctx, tok)
					return errors.Is(err, ErrNoSession) || errors.Is(err, ErrExpired)
				})
				if d := time.Since(start); d > 200*time.Millisecond {
					t.Errorf("%s took %s to reach b", name, d)
				}
				if _, err := a.m.RevokeAll(ctx, 1); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// warmLocal looks tok up on e until the answer comes from e's copy.
func warmLocal(t *testing.T, e *env, tok string) {
	t.Helper()
	waitUntil(t, 2*time.Second, "a local hit", func() bool {
		before := e.m.local.hits.Load()
		_, err := e.m.Lookup(context.Background(), tok)
		return err == nil && e.m.local.hits.Load() > before
	})
}

// TestLocalCopyKeepsExpiryExact: a session answered from the local copy
// ends exactly at its absolute deadline (the copy knows it; nothing needs
// to be heard from Redis): every lookup decided before the deadline is
// valid, every one decided at or after it is refused. The idle deadline
// is checked the same way (usable).
func TestLocalCopyKeepsExpiryExact(t *testing.T) {
	s := redistest.Start(t)
	e := setupTracked(t, func(r *config.Redis) { r.URL = s.URL() }, func(s *config.Sessions) {
		s.IdleTimeout, s.AbsoluteTimeout, s.TouchInterval = config.D(time.Second), config.D(time.Second), config.D(900*time.Millisecond)
	})
	var decided time.Time // when the last lookup read the clock
	e.m.now = func() time.Time { decided = time.Now(); return decided }
	tok, sess := e.login("alice")
	warmLocal(t, e, tok)
	local := 0
	for {
		hits := e.m.local.hits.Load()
		_, err := e.m.Lookup(context.Background(), tok)
		if e.m.local.hits.Load() > hits {
			local++
		}
		if err != nil {
			if decided.Before(sess.AbsoluteExpires) {
				t.Fatalf("refused %s before its absolute deadline: %v", sess.AbsoluteExpires.Sub(decided), err)
			}
			break
		}
		if !decided.Before(sess.AbsoluteExpires) {
			t.Fatalf("valid %s after its absolute deadline", decided.Sub(sess.AbsoluteExpires))
		}
		time.Sleep(time.Millisecond)
	}
	if local == 0 {
		t.Fatal("no lookup was answered locally")
	}
	if !usable(sess, sess.LastSeenAt.Add(time.Second-time.Millisecond), time.Second, time.Hour) ||
		usable(sess, sess.LastSeenAt.Add(time.Second), time.Second, time.Hour) {
		t.Fatal("a copy is not usable exactly until its idle deadline")
	}
}

// TestWithoutTrackingEveryLookupReadsRedis: fail closed — while tracking
// is down (its connections cut; the pod still reaches Redis) every lookup
// reads Redis, so a session revoked meanwhile is refused at once.
func TestWithoutTrackingEveryLookupReadsRedis(t *testing.T) {
	s := redistest.Start(t)
	e := setup(t, func(r *config.Redis) { r.URL = s.URL() }, func(*config.Sessions) {})
	proxy := redistest.NewProxy(t, s.Addr())
	tr := trackWith(t, e, proxy.Redisx(t))

	cmds := redistest.CountCommands(e.rc)
	mctx := cmds.Mark(context.Background())
	tok, sess := e.login("alice")
	warmLocal(t, e, tok)
	proxy.Cut()
	waitUntil(t, 2*time.Second, "tracking down", func() bool { return !tr.Live() })
	for range 10 {
		before := cmds.N()
		if _, err := e.m.Lookup(mctx, tok); err != nil {
			t.Fatal(err)
		}
		if n := cmds.N() - before; n != 1 {
			t.Fatalf("a lookup without tracking sent %d Redis commands, want 1", n)
		}
	}
	// A revocation this pod cannot hear about is still seen at once.
	other := setup(t, func(r *config.Redis) { r.URL = s.URL(); r.KeyPrefix = e.rc.Prefix }, func(*config.Sessions) {})
	if err := other.m.Logout(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Lookup(mctx, tok); !errors.Is(err, ErrNoSession) {
		t.Fatalf("lookup after a revocation while deaf: %v", err)
	}
}

// TestFailoverWhileTracked: the master holding a session that pod b
// answers from its copy dies; b stops answering from copies (every lookup
// goes to Redis, which fails over), and once tracking is back on the
// promoted replica a logout on pod a still ends the session on b at once.
func TestFailoverWhileTracked(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	cfg := func(r *config.Redis) { r.Addrs, r.Password = c.Addrs(), c.Password }
	a, b := twoPods(t, cfg, func(*config.Sessions) {})
	tok, sess := a.login("alice")
	warmLocal(t, b, tok)
	master := c.MasterOf(b.m.k.session(sess.tag, sess.ID))
	// The session must survive the failover for this test: Redis replicates
	// asynchronously, and a login acknowledged just before its master dies
	// can be missing on the promoted replica (then it is simply gone, on
	// every pod: "no such session").
	c.WaitReplicated(master)
	master.Stop()
	waitUntil(t, 5*time.Second, "b's tracking down", func() bool { return !b.m.local.tr.Live() })
	if _, ok := b.m.local.get(b.m.k.session(sess.tag, sess.ID)); ok {
		t.Fatal("b still answers from its copy with tracking down")
	}
	waitUntil(t, time.Minute, "b's tracking live on the new master set", b.m.local.tr.Live)
	waitUntil(t, 30*time.Second, "b answering from its copy again", func() bool {
		before := b.m.local.hits.Load()
		_, err := b.m.Lookup(context.Background(), tok)
		return err == nil && b.m.local.hits.Load() > before
	})
	waitUntil(t, 30*time.Second, "a's logout after the failover", func() bool {
		return a.m.Logout(context.Background(), sess) == nil
	})
	waitUntil(t, time.Second, "the logout seen on b", func() bool {
		_, err := b.m.Lookup(context.Background(), tok)
		return errors.Is(err, ErrNoSession)
	})
}
