package realtime

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redlane/redlane/internal/redistest"
)

type nopSink struct{}

func (nopSink) deliverLive(string, *envelope) {}
func (nopSink) subscribed(string)             {}

// TestReadinessMovesMisplacedSubscription: a channel subscribed, and
// confirmed, on a node that does not serve its slot (what a Cluster being
// formed while an instance starts can leave behind: the node turns replica,
// a replica takes SSUBSCRIBE and relays its master's messages, so the
// connection never fails) is noticed by the readiness check, which moves it
// to the master's shard: readiness fails once, then holds again.
func TestReadinessMovesMisplacedSubscription(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	rc := c.Redisx(t)
	b := newBroker(rc, newKeys(rc), "pod-a", slog.New(slog.NewTextHandler(io.Discard, nil)), newMetrics(prometheus.NewRegistry()), nopSink{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	ready := func() error {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer ccancel()
		return b.check(cctx, randomID(8))
	}
	waitReady := func(what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := ready()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not ready within 20s: %v", what, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitReady("at start")

	// Put the probe channel on a shard of its master's replica instead.
	master := c.MasterOf(b.probeCh)
	replica := c.ReplicaOf(master)
	if replica == nil {
		t.Fatal("the probe channel's master has no replica")
	}
	b.mu.Lock()
	right := b.routes[b.probeCh]
	wrong := newShard(b, replica.Addr(), true)
	b.shards[replica.Addr()] = wrong
	b.routes[b.probeCh] = wrong
	b.wg.Add(1)
	go func() { defer b.wg.Done(); wrong.run(b.ctx) }()
	b.mu.Unlock()
	right.setWant(b.probeCh, false)
	wrong.setWant(b.probeCh, true)
	// The replica confirms the subscription and relays the probe.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if wanted, problem := wrong.status(); len(wanted) == 1 && problem == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica never confirmed the subscription")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := ready(); err == nil {
		t.Fatal("readiness holds with the probe channel subscribed on a replica")
	}
	waitReady("after moving the subscription")
	b.mu.Lock()
	now := b.routes[b.probeCh]
	b.mu.Unlock()
	if now == wrong || now.addr != master.Addr() {
		t.Fatalf("the probe channel is on %s, want its master %s", now.addr, master.Addr())
	}
}
