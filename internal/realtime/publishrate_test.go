package realtime

import (
	"testing"
	"time"

	"github.com/redlane/redlane/internal/config"
)

func TestBucketAllowsLimitPlusBurstThenTheRate(t *testing.T) {
	r := config.PublishRate{Limit: 10, Period: config.D(time.Second), Burst: 5}
	var b bucket
	now := time.Unix(1700000000, 0)
	allowed := 0
	for i := 0; i < 100; i++ {
		if ok, _ := b.take(r, now); ok {
			allowed++
		}
	}
	if allowed != 15 {
		t.Fatalf("burst at one instant: %d allowed, want limit+burst = 15", allowed)
	}
	ok, wait := b.take(r, now)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("empty bucket: ok=%v wait=%s, want refused with 100ms to the next token", ok, wait)
	}
	// One second later, 10 more (the rate), not 15.
	now = now.Add(time.Second)
	allowed = 0
	for i := 0; i < 100; i++ {
		if ok, _ := b.take(r, now); ok {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("a second later: %d allowed, want 10", allowed)
	}
}
