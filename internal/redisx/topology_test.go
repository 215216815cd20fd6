package redisx_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/redistest"
)

// TestClusterFailoverReloadsSlots: after the master owning a key is killed,
// writes to that key succeed again soon after a replica is promoted — not
// after go-redis's 60 s slot-map timer, which is how long a client that
// kept dialling the dead master took before the topology hook.
func TestClusterFailoverReloadsSlots(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	rc := c.Redisx(t)
	cc := rc.UniversalClient.(*redis.ClusterClient)
	ctx := context.Background()
	const key = "failover:{k}"
	if err := rc.Set(ctx, key, "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	master, err := cc.MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var victim *redistest.Server
	for _, s := range c.Nodes {
		if s.Addr() == master.Options().Addr {
			victim = s
		}
	}
	victim.Stop()
	killed := time.Now()

	// The promotion, as the surviving nodes see it, and the first write
	// that succeeds, as the client sees it.
	var promoted, recovered time.Duration
	for deadline := killed.Add(45 * time.Second); time.Now().Before(deadline) && (promoted == 0 || recovered == 0); {
		if promoted == 0 && slotOwnerChanged(ctx, c, victim, key) {
			promoted = time.Since(killed)
		}
		wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := rc.Set(wctx, key, "after", 0).Err()
		cancel()
		if err == nil && recovered == 0 {
			recovered = time.Since(killed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("master killed; replica promoted after %s, writes succeed again after %s", promoted, recovered)
	if promoted == 0 {
		t.Fatal("no replica was promoted within 45s")
	}
	if recovered == 0 || recovered > promoted+10*time.Second {
		t.Fatalf("writes did not recover within 10s of the promotion (promoted after %s, recovered after %s)", promoted, recovered)
	}
}

// slotOwnerChanged reports whether a surviving node names a live master
// other than victim for key's slot.
func slotOwnerChanged(ctx context.Context, c *redistest.Cluster, victim *redistest.Server, key string) bool {
	for _, s := range c.Nodes {
		if s == victim {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: c.Password, MaxRetries: -1})
		qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		slots, err := cl.ClusterSlots(qctx).Result()
		slot, _ := cl.ClusterKeySlot(qctx, key).Result()
		cancel()
		cl.Close()
		if err != nil {
			continue
		}
		for _, r := range slots {
			if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
				return !strings.HasSuffix(r.Nodes[0].Addr, ":"+victimPort(victim))
			}
		}
	}
	return false
}

func victimPort(s *redistest.Server) string {
	_, port, _ := strings.Cut(s.Addr(), ":")
	return port
}
