package lock_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/lock"
	"github.com/redlane/redlane/internal/redistest"
)

// TestLocks runs every scenario on a standalone server and on a Cluster.
func TestLocks(t *testing.T) {
	for _, b := range redistest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			rc1, rc2 := b.Open(t)
			// Two Lockers on two connections pools: two Redlane pods.
			a, bb := lock.New(rc1, nil, nil), lock.New(rc2, nil, nil)
			t.Run("lifecycle", func(t *testing.T) { testLifecycle(t, a, bb) })
			t.Run("expired lease is taken over", func(t *testing.T) { testTakeover(t, a, bb) })
			t.Run("holders never overlap", func(t *testing.T) { testMutualExclusion(t, a, bb) })
		})
	}
}

func testLifecycle(t *testing.T, a, b *lock.Locker) {
	ctx := context.Background()
	l1, err := a.Acquire(ctx, "orders/42", 10*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l1.Fence() < 1 || l1.Token() == "" || l1.Name() != "orders/42" {
		t.Fatalf("lease = %+v", l1)
	}
	_, err = b.Acquire(ctx, "orders/42", time.Second, 0)
	var te *lock.TimeoutError
	if !errors.Is(err, lock.ErrTimeout) || !errors.As(err, &te) || te.HeldFor <= 0 || te.HeldFor > 10*time.Second {
		t.Fatalf("second acquire = %v, want ErrTimeout with the holder's remaining time", err)
	}
	if err := b.Release(ctx, "orders/42", "not-the-token"); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("release with a wrong token = %v", err)
	}
	if _, err := b.Extend(ctx, "orders/42", "not-the-token", time.Minute); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("extend with a wrong token = %v", err)
	}
	st, err := b.Inspect(ctx, "orders/42")
	if err != nil || !st.Held || st.Fence != l1.Fence() || st.TTL > 10*time.Second {
		t.Fatalf("wrong-token calls changed the lease: %+v %v", st, err)
	}
	if err := l1.Extend(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.Inspect(ctx, "orders/42"); st.TTL <= 10*time.Second {
		t.Fatalf("extend did not lengthen the lease: %v", st.TTL)
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l1.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("second release = %v", err)
	}
	l2, err := b.Acquire(ctx, "orders/42", time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l2.Fence() <= l1.Fence() {
		t.Fatalf("fence did not grow: %d then %d", l1.Fence(), l2.Fence())
	}
	_ = l2.Release(ctx)
}

func testTakeover(t *testing.T, a, b *lock.Locker) {
	ctx := context.Background()
	old, err := a.Acquire(ctx, "job:takeover", 150*time.Millisecond, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The holder "dies"; the waiter gets the lock once the lease runs out.
	next, err := b.Acquire(ctx, "job:takeover", 5*time.Second, 5*time.Second)
	if err != nil {
		t.Fatalf("waiter never got the expired lock: %v", err)
	}
	if next.Fence() <= old.Fence() {
		t.Fatalf("fence after takeover %d <= %d", next.Fence(), old.Fence())
	}
	if err := old.Extend(ctx, time.Minute); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("stale holder extended: %v", err)
	}
	if err := old.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("stale holder released: %v", err)
	}
	if st, _ := a.Inspect(ctx, "job:takeover"); !st.Held || st.Fence != next.Fence() {
		t.Fatalf("stale holder's release freed the new lease: %+v", st)
	}
	_ = next.Release(ctx)
}

// testMutualExclusion: many goroutines of two "pods" fight for one lock.
// Inside the critical section a detector must never see a second holder,
// and each holder's fence must exceed every fence seen before it.
func testMutualExclusion(t *testing.T, a, b *lock.Locker) {
	ctx := context.Background()
	const workers, rounds = 8, 12
	var (
		inside    atomic.Int32
		mu        sync.Mutex
		lastFence int64
		entries   int
		wg        sync.WaitGroup
		errs      = make(chan error, workers*rounds)
	)
	for w := 0; w < workers; w++ {
		lk := a
		if w%2 == 1 {
			lk = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				lease, err := lk.Acquire(ctx, "critical", 5*time.Second, 20*time.Second)
				if err != nil {
					errs <- err
					return
				}
				if n := inside.Add(1); n != 1 {
					errs <- errors.New("two holders inside the critical section")
				}
				mu.Lock()
				if lease.Fence() <= lastFence {
					errs <- errors.New("fence did not increase strictly")
				}
				lastFence = lease.Fence()
				entries++
				mu.Unlock()
				time.Sleep(time.Millisecond)
				inside.Add(-1)
				if err := lease.Release(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if entries != workers*rounds {
		t.Fatalf("%d critical sections, want %d", entries, workers*rounds)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		ttl  time.Duration
		ok   bool
	}{
		{"a", time.Second, true},
		{"reports/2026-11:daily", lock.MaxTTL, true},
		{"", time.Second, false},
		{"has space", time.Second, false},
		{"{tag}", time.Second, false},
		{string(make([]byte, lock.MaxNameLen+1)), time.Second, false},
		{"a", 0, false},
		{"a", -time.Second, false},
		{"a", lock.MaxTTL + 1, false},
	}
	for _, tc := range tests {
		err := lock.Validate(tc.name, tc.ttl)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, lock.ErrInvalid)) {
			t.Errorf("Validate(%q, %s) = %v, want ok=%v", tc.name, tc.ttl, err, tc.ok)
		}
	}
}
