package redisx

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemo(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{})
	m := NewMemo(50*time.Millisecond, time.Second, func(ctx context.Context) int64 {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("fetch runs without a deadline")
		}
		<-release
		return calls.Add(1)
	})

	// Concurrent callers share one fetch.
	var wg sync.WaitGroup
	got := make([]int64, 8)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = m.Get(context.Background()) }()
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	for _, v := range got {
		if v != 1 {
			t.Fatalf("concurrent callers got %v, want one shared fetch", got)
		}
	}
	// Within the TTL the value is reused; after it, fetched again.
	if v := m.Get(context.Background()); v != 1 || calls.Load() != 1 {
		t.Fatalf("within the TTL: value %d after %d fetches", v, calls.Load())
	}
	time.Sleep(60 * time.Millisecond)
	if v := m.Get(context.Background()); v != 2 {
		t.Fatalf("after the TTL: value %d, want a second fetch", v)
	}
}
