package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redistest"
	"github.com/redlane/redlane/internal/store"
)

// slowUsers is testUsers whose password check takes a while, as argon2id
// does, and records how many checks ran and how many at once.
type slowUsers struct {
	testUsers
	delay                time.Duration
	checks, now, maxSeen atomic.Int64
}

func (u *slowUsers) VerifyPassword(ctx context.Context, name, pw string) (*store.User, error) {
	u.checks.Add(1)
	n := u.now.Add(1)
	defer u.now.Add(-1)
	for {
		m := u.maxSeen.Load()
		if n <= m || u.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(u.delay)
	return u.testUsers.VerifyPassword(ctx, name, pw)
}

// parallel runs n logins at once and counts their outcomes.
func parallel(e *env, n int, login func(i int) error) map[string]int {
	var mu sync.Mutex
	out := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := login(i)
			var le *LockedError
			k := "other: "
			switch {
			case err == nil:
				k = "ok"
			case errors.Is(err, ErrBadCredentials):
				k = "bad"
			case errors.As(err, &le):
				k = "locked"
			case errors.Is(err, ErrBusy):
				k = "busy"
			default:
				k += err.Error()
			}
			mu.Lock()
			out[k]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// Thirty wrong passwords for one user at once, limit 5: exactly 5 are
// checked, the others refused before any hash work.
func TestParallelGuessesCostAtMostTheLimit(t *testing.T) {
	rs := redistest.Start(t)
	cluster := redistest.StartCluster(t, 3, 0)
	for _, mode := range []struct {
		name string
		cfg  func(*config.Redis)
	}{
		{"standalone", func(r *config.Redis) { r.URL = rs.URL() }},
		{"cluster", func(r *config.Redis) { r.Addrs = cluster.Addrs() }},
	} {
		t.Run(mode.name, func(t *testing.T) {
			u := &slowUsers{testUsers: users, delay: 20 * time.Millisecond}
			e := setupUsers(t, u, mode.cfg, func(s *config.Sessions) {
				s.LoginLimits.PerUsername, s.LoginLimits.PerIP = 5, 1000
				s.PasswordChecks.MemoryBudgetMiB = 1024 // the gate is not what limits here
			})
			got := parallel(e, 30, func(int) error {
				_, _, _, err := e.m.Login(context.Background(), "alice", "wrong", "198.51.100.7", "")
				return err
			})
			if got["bad"] != 5 || got["locked"] != 25 || u.checks.Load() != 5 {
				t.Fatalf("30 parallel wrong passwords, limit 5: outcomes %v, %d passwords checked; want exactly 5 checked and 25 refused", got, u.checks.Load())
			}
			// A right password is refused too now (the limit is used up),
			// without a check.
			if _, _, _, err := e.m.Login(context.Background(), "alice", "pw-alice", "198.51.100.8", ""); !errors.As(err, new(*LockedError)) || u.checks.Load() != 5 {
				t.Fatalf("right password after the limit: %v, %d checks", err, u.checks.Load())
			}
			// Successes give their attempt back: bob logs in 10 times with limit 5.
			for i := 0; i < 10; i++ {
				if _, _, _, err := e.m.Login(context.Background(), "bob", "pw-bob", "198.51.100.9", ""); err != nil {
					t.Fatalf("bob's login %d: %v", i+1, err)
				}
			}
		})
	}
}

// The check gate lets memoryBudgetMiB / 19 MiB checks run at once; the
// others wait, and past maxWait are refused with ErrBusy, their attempt
// given back.
func TestPasswordChecksAreBounded(t *testing.T) {
	rs := redistest.Start(t)
	u := &slowUsers{testUsers: users, delay: 100 * time.Millisecond}
	e := setupUsers(t, u, func(r *config.Redis) { r.URL = rs.URL() }, func(s *config.Sessions) {
		s.LoginLimits.PerUsername, s.LoginLimits.PerIP = 1000, 1000
		s.PasswordChecks.MemoryBudgetMiB = 40 // two checks of 19 MiB
		s.PasswordChecks.MaxWait = config.D(250 * time.Millisecond)
	})
	got := parallel(e, 12, func(int) error {
		_, _, _, err := e.m.Login(context.Background(), "nobody", "wrong", "198.51.100.7", "")
		return err
	})
	if u.maxSeen.Load() != 2 {
		t.Errorf("%d checks ran at once, want 2 (40 MiB / 19 MiB)", u.maxSeen.Load())
	}
	if got["busy"] == 0 || got["bad"]+got["busy"] != 12 {
		t.Errorf("outcomes %v: want some busy (12 checks of 100 ms, 2 at a time, 250 ms wait), the rest bad", got)
	}
	// The refused ones gave their attempt back: only the checked ones count.
	n, err := e.raw.Get(context.Background(), e.m.k.failUser(usernameHash("nobody"))).Int()
	if err != nil || n != got["bad"] {
		t.Errorf("failure counter = %d (%v), want %d (the checked ones)", n, err, got["bad"])
	}
}
